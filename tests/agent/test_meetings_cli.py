"""list, show, search, export and delete on a real store, through the real command.

The commands run in-process (``run_qylon_here``: the same entry point, environment, streams
and exit codes, without an interpreter start per command); test_delete runs the real
subprocess (``qylon_process``): its refusals without --yes (stdin not a terminal) and its
exit codes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import srt
import webvtt
from qylon_agent.store.database import Store

from qylon_cli.schemas import ActionItem, Meeting, Segment, Speaker, Word

from ..conftest import run_qylon_here


@pytest.fixture
def qylon():
    """In-process; see the module docstring for the tests on the real subprocess."""
    return run_qylon_here


def make_meeting(
    meeting_id: str, title: str, client: str | None, lines: list[tuple[float, float, str, str]]
) -> Meeting:
    return Meeting(
        id=meeting_id,
        title=title,
        client=client,
        source="/tmp/x.wav",
        created_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        duration_s=lines[-1][1] + 1,
        language="en",
        model="tiny.en",
        speakers=[
            Speaker(id="SPEAKER_1", name="Alice", talk_time_s=5),
            Speaker(id="SPEAKER_2", talk_time_s=3),
        ],
        segments=[
            Segment(
                start=a,
                end=b,
                speaker=who,
                text=text,
                words=[Word(start=a, end=b, word=text, probability=0.9)],
            )
            for a, b, who, text in lines
        ],
        action_items=[
            ActionItem(
                id=meeting_id[:4] + "-a1",
                owner="Bob",
                task="Send the budget",
                due=date(2026, 11, 27),
                quote="I'll send the budget",
                start=3.0,
            )
        ],
        summary="Budget review.",
    )


@pytest.fixture
def stored(qylon_home):
    store = Store()
    store.save_meeting(
        make_meeting(
            "11111111-1111-4111-8111-111111111111",
            "Budget review",
            "Acme",
            [
                (0.0, 2.5, "SPEAKER_1", "Let us look at the budget for next year."),
                (3.0, 5.25, "SPEAKER_2", "I'll send the budget --> numbers by Friday."),
                (3725.5, 3728.0, "SPEAKER_1", "Thanks, that's all."),
            ],
        )
    )
    store.save_meeting(
        make_meeting(
            "22222222-2222-4222-8222-222222222222",
            "Hiring plan",
            "Globex",
            [(0.0, 4.0, "SPEAKER_1", "We are hiring two engineers.")],
        )
    )
    store.close()


def test_list_and_filter(qylon, stored):
    rows = qylon("meeting", "list", "--json").json["data"]["items"]
    assert {r["title"] for r in rows} == {"Budget review", "Hiring plan"}
    acme = qylon("meeting", "list", "--client", "acme", "--json").json["data"]["items"]
    assert [r["title"] for r in acme] == ["Budget review"]
    assert acme[0]["segments"] == 3 and acme[0]["action_items"] == 1


def test_show_by_prefix_and_not_found(qylon, stored):
    shown = qylon("meeting", "show", "1111", "--json").json["data"]
    assert shown["title"] == "Budget review"
    assert shown["speakers"][0] == {
        "id": "SPEAKER_1",
        "name": "Alice",
        "talk_time_s": 5.0,
        "name_source": None,
        "score": None,
        "suggestions": [],
    }
    missing = qylon("meeting", "show", "99999999", "--json")
    assert missing.code == 5 and missing.json["error"]["code"] == "not_found"
    bad = qylon("meeting", "show", "x';drop", "--json")
    assert bad.code == 3


def test_search_with_snippets_and_stemming(qylon, stored):
    hits = qylon("meeting", "search", "budgets", "--json").json["data"]["items"]
    assert len(hits) == 2
    assert all(h["meeting_id"].startswith("1111") for h in hits)
    assert {h["start"] for h in hits} == {0.0, 3.0}
    assert any("[budget]" in h["snippet"] for h in hits)
    assert {(h["speaker"], h["speaker_name"]) for h in hits} == {
        ("SPEAKER_1", "Alice"),
        ("SPEAKER_2", None),
    }
    # What one person said, by name or by label.
    alice = qylon("meeting", "search", "budget", "--speaker", "alice", "--json").json["data"][
        "items"
    ]
    assert [(h["start"], h["speaker_name"]) for h in alice] == [(0.0, "Alice")]
    assert [
        h["start"]
        for h in qylon("meeting", "search", "budget", "--speaker", "SPEAKER_2", "--json").json[
            "data"
        ]["items"]
    ] == [3.0]
    assert (
        qylon("meeting", "search", "budget", "--speaker", "Carol", "--json").json["data"]["items"]
        == []
    )
    assert (
        qylon("meeting", "search", "engineers", "--client", "Acme", "--json").json["data"]["items"]
        == []
    )
    human = qylon("meeting", "search", "hiring")
    assert "Hiring plan" in human.stdout and "00:00" in human.stdout and "Alice" in human.stdout
    # FTS syntax in the query is taken as words, not an error.
    assert qylon("meeting", "search", 'budget" OR (', "--json").code == 0
    assert qylon("meeting", "search", "?!", "--json").code == 3


def test_export_srt_parses_back(qylon, stored):
    out = qylon("meeting", "export", "1111", "--format", "srt").stdout
    subs = list(srt.parse(out))
    assert [s.index for s in subs] == [1, 2, 3]
    assert subs[0].start.total_seconds() == 0.0 and subs[0].end.total_seconds() == 2.5
    assert subs[2].start.total_seconds() == 3725.5
    assert subs[0].content.startswith("Alice: ")
    assert subs[1].content.startswith("SPEAKER_2: ")


def test_export_vtt_parses_back(qylon, stored, tmp_path):
    target = tmp_path / "m.vtt"
    assert qylon("meeting", "export", "1111", "-f", "vtt", "-o", str(target)).code == 0
    captions = webvtt.read(str(target))
    assert [c.start for c in captions] == ["00:00:00.000", "00:00:03.000", "01:02:05.500"]
    assert captions[0].voice == "Alice"
    assert "-->" not in captions[1].text


def test_export_txt_md_json(qylon, stored, tmp_path):
    txt = qylon("meeting", "export", "1111", "-f", "txt").stdout
    assert txt.splitlines()[0] == "[00:00] Alice: Let us look at the budget for next year."
    assert "[1:02:05] Alice: Thanks, that's all." in txt
    md = qylon("meeting", "export", "1111", "-f", "md").stdout
    assert md.startswith("# Budget review")
    assert "- [ ] Send the budget — **Bob** (due 2026-11-27)" in md
    assert "**Alice:**" in md and "## Summary" in md
    data = json.loads(qylon("meeting", "export", "1111", "-f", "json").stdout)
    assert data["segments"][0]["words"][0]["word"] == "Let us look at the budget for next year."
    assert data["action_items"][0]["due"] == "2026-11-27"
    bad = qylon("meeting", "export", "1111", "-f", "docx")
    assert bad.code == 2


def test_delete(qylon_process, stored):
    qylon = qylon_process  # the real subprocess
    asked = qylon("meeting", "delete", "2222", "--json")  # no terminal, no --yes: nothing deleted
    assert asked.code == 2 and "--yes" in asked.json["error"]["hint"]
    plain = qylon("meeting", "delete", "2222")  # nor without --json: it refuses, it never asks
    assert plain.code == 2 and "--yes" in plain.stderr and "Delete meeting" not in plain.stdout
    assert len(qylon("meeting", "list", "--json").json["data"]["items"]) == 2
    result = qylon("meeting", "delete", "2222", "--yes", "--json")
    assert result.code == 0 and result.json["data"]["deleted"] is True
    assert [r["title"] for r in qylon("meeting", "list", "--json").json["data"]["items"]] == [
        "Budget review"
    ]
    assert qylon("meeting", "search", "engineers", "--json").json["data"]["items"] == []
    assert qylon("meeting", "delete", "2222", "--yes", "--json").code == 5


def test_saving_again_replaces_children(qylon_home):
    store = Store()
    meeting = make_meeting(
        "33333333-3333-4333-8333-333333333333", "T", None, [(0, 1, "SPEAKER_1", "one two")]
    )
    store.save_meeting(meeting)
    store.save_meeting(meeting)
    assert store.db["segments"].count == 1
    assert store.search("two")[0]["meeting_id"] == meeting.id


def test_vtt_escapes_ampersands_and_angle_brackets(qylon_home):
    """WebVTT cue text may hold "&" and "<" only as escapes (and ">" is escaped too): a
    transcript with "R&D" or "<" must still give a valid file that reads back the same."""
    import html
    import io
    import re

    from qylon_agent.store.formats import to_vtt

    said = ["R&D spend is < 5% & falling", "a > b --> c", "use <b>bold</b> &amp; stay"]
    meeting = make_meeting(
        "44444444-4444-4444-8444-444444444444",
        "T",
        None,
        [(i, i + 1, "SPEAKER_1", text) for i, text in enumerate(said)],
    )
    meeting.speakers[0].name = "R&D <lead>"
    out = to_vtt(meeting)
    cues = [
        line
        for line in out.splitlines()[2:]
        if line and "-->" not in line.replace("--&gt;", "") and not line.isdigit()
    ]
    for cue in cues:
        body = re.sub(r"^<v [^>]*>", "", cue)
        assert "<" not in body and ">" not in body, cue
        assert not re.search(r"&(?!amp;|lt;|gt;)", cue), cue
    captions = webvtt.from_buffer(io.StringIO(out))
    assert [html.unescape(c.text) for c in captions] == [t.replace("-->", "->") for t in said]
    assert html.unescape(captions[0].voice) == "R&D <lead>"
