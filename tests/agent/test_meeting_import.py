"""`qylon meeting import`: transcripts from Teams, Zoom, Google Meet, SRT, plain text and Qylon's JSON export.

The commands run in-process (``run_qylon_here``: the same entry point, environment, streams
and exit codes, without an interpreter start per command); test_bad_file_exits_3_and_stores_nothing
runs the real subprocess (``qylon_process``): the exit code of the real process."""

from __future__ import annotations

import pytest
from qylon_agent.store import transcript_files

from ..conftest import run_qylon_here
from .transcript_fixtures import ITEMS, MEET, NAMES, PLAIN, SRT, TEAMS, ZOOM

TEXTS = {
    "teams.vtt": TEAMS,
    "zoom.vtt": ZOOM,
    "meet.vtt": MEET,
    "call.srt": SRT,
    "notes.txt": PLAIN,
}


@pytest.fixture
def qylon():
    """In-process; see the module docstring for the tests on the real subprocess."""
    return run_qylon_here


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("name", list(TEXTS))
def test_each_format_reads_speakers_times_and_text(tmp_path, name):
    meeting = transcript_files.to_meeting(write(tmp_path, name, TEXTS[name]))
    names = {sp.id: sp.name for sp in meeting.speakers}
    said = [(names[s.speaker], s.text) for s in meeting.segments]
    assert [sp.name for sp in meeting.speakers] == NAMES
    assert said[1] == (
        "Eric Moreau",
        "Um, so, I'll send the revised migration plan to Northwind by Friday.",
    )
    assert said[2] == (
        "Dana Lee",
        "Great. Fiona, could you book the training room for the second week of December?",
    )
    assert len(said) == 5 and said[0][1].startswith(
        "Good morning everyone. Let's go through the Northwind rollout"
    )
    if not name.endswith(".txt"):
        assert [(s.start, s.end) for s in meeting.segments][:2] == [(1.52, 5.88), (6.1, 11.4)]
    else:
        assert all(a.end <= b.start for a, b in zip(meeting.segments, meeting.segments[1:]))


def test_several_voices_in_one_cue_and_tags_inside(tmp_path):
    text = "WEBVTT\n\n00:00:00.000 --> 00:00:10.000\n<v.loud Ann>Hello <i>there</i>.</v> <v Bob>Hi &lt;Ann&gt;, all set?</v>\n"
    meeting = transcript_files.to_meeting(write(tmp_path, "x.vtt", text))
    assert [(sp.name, s.text) for s, sp in zip(meeting.segments, meeting.speakers)] == [
        ("Ann", "Hello there."),
        ("Bob", "Hi <Ann>, all set?"),
    ]
    assert meeting.segments[0].start == 0.0 and meeting.segments[1].end == 10.0
    assert meeting.segments[0].end == meeting.segments[1].start


@pytest.mark.parametrize(
    ("name", "text", "line", "words"),
    [
        (
            "a.vtt",
            "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nAnn: Hi.\n\n2\n00:00:03,000 -> 00:00:04.000\nBob: Hi.\n",
            8,
            "cue timing",
        ),
        ("b.vtt", "Ann: hello\n", 1, "starts with 'WEBVTT'"),
        (
            "c.srt",
            "1\n00:00:01,000 --> 00:00:02,000\nAnn: Hi.\n\n2\n00:00:05,000 --> 00:00:04,000\nBob: Hi.\n",
            6,
            "ends before it starts",
        ),
        ("d.txt", "Minutes of the weekly call\nAnn: Hi.\n", 1, "expected 'Speaker: text'"),
        ("e.json", '{"id": "x", "title": "T",\n "segments": [\n}', 3, "not valid JSON"),
        ("f.vtt", "WEBVTT\n\nNOTE only a note\n", None, "no cue with any text"),
    ],
)
def test_bad_files_name_the_line(tmp_path, name, text, line, words):
    path = write(tmp_path, name, text)
    with pytest.raises(transcript_files.TranscriptError, match=words) as exc:
        transcript_files.to_meeting(path)
    assert exc.value.exit_code == 3
    assert (
        (f"{path}:{line}:" in exc.value.message)
        if line
        else exc.value.message.startswith(f"{path}:")
    )


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Ann: hello\nBob: caf\xe9\n".encode("latin-1"))
    with pytest.raises(transcript_files.TranscriptError, match=r"latin1.txt:2: not UTF-8"):
        transcript_files.read(path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["teams.vtt", "zoom.vtt", "meet.vtt", "call.srt", "notes.txt"])
def test_import_stores_an_analysed_searchable_meeting(tmp_path, qylon, name):
    path = write(tmp_path, name, TEXTS[name])
    result = qylon(
        "meeting", "import", str(path), "--client", "Northwind", "--date", "2026-11-25", "--json"
    )
    assert result.code == 0, result.stderr
    data = result.json["data"]
    assert data["client"] == "Northwind" and data["created_at"].startswith("2026-11-25")
    assert [(i["owner"], i["task"], i["due"]) for i in data["action_items"]] == ITEMS
    hits = qylon("meeting", "search", "migration plan", "--json").json["data"]["items"]
    assert [h["meeting_id"] for h in hits] == [data["id"]]
    assert (
        qylon("meeting", "summary", data["id"][:8], "--json").json["data"]["extractor"] == "offline"
    )


@pytest.mark.slow
def test_bad_file_exits_3_and_stores_nothing(tmp_path, qylon_process):
    qylon = qylon_process  # the real subprocess
    path = write(
        tmp_path,
        "broken.vtt",
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nAnn: Hi.\n\n00:00:03 --> 00:00:04\nBob: Hi.\n",
    )
    result = qylon("meeting", "import", str(path), "--json")
    assert result.code == 3
    assert (
        result.json["error"]["code"] == "invalid_transcript"
        and "broken.vtt:6:" in result.json["error"]["message"]
    )
    assert qylon("meeting", "list", "--json").json["data"]["items"] == []
    assert qylon("meeting", "import", str(tmp_path / "missing.vtt"), "--json").code == 3


@pytest.mark.slow
def test_round_trip_through_vtt_and_json(tmp_path, qylon):
    first = qylon(
        "meeting",
        "import",
        str(write(tmp_path, "teams.vtt", TEAMS)),
        "--date",
        "2026-11-25",
        "--json",
    ).json["data"]
    item = first["action_items"][0]["id"]
    assert qylon("meeting", "actions", "done", item[:8], "--json").code == 0

    def view(data):
        names = {sp["id"]: sp["name"] for sp in data["speakers"]}
        segments = [
            (s["start"], s["end"], names.get(s["speaker"]), s["text"]) for s in data["segments"]
        ]
        return (
            segments,
            sorted(names.values()),
            [(i["owner"], i["task"], i["due"]) for i in data["action_items"]],
        )

    for fmt in ("vtt", "json"):
        out = tmp_path / f"export.{fmt}"
        assert qylon("meeting", "export", first["id"][:8], "-f", fmt, "-o", str(out)).code == 0
        again = qylon("meeting", "import", str(out), "--date", "2026-11-25", "--json")
        assert again.code == 0, again.stderr
        assert view(again.json["data"]) == view(first)
        assert again.json["data"]["id"] != first["id"]
        statuses = [i["status"] for i in again.json["data"]["action_items"]]
        assert statuses == (
            ["done", "open"] if fmt == "json" else ["open", "open"]
        )  # the JSON export keeps what was done


def test_a_voice_cannot_be_learnt_from_an_imported_transcript(qylon, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text(
        "Dana: Let's start with the budget.\nMarcus: The totals match.\n", encoding="utf-8"
    )
    meeting = qylon("meeting", "import", str(path), "--json").json["data"]
    result = qylon(
        "meeting",
        "rename-speaker",
        meeting["id"][:8],
        "SPEAKER_1",
        "Dana Lee",
        "--enroll",
        "--json",
    )
    assert result.code == 5 and "imported from a transcript" in result.json["error"]["message"]


def test_the_same_file_imported_again_is_not_a_second_meeting(tmp_path, qylon):
    path = write(tmp_path, "teams.vtt", TEAMS)
    failed = qylon("meeting", "import", str(path), "--extractor", "llm", "--json")
    assert failed.code == 3  # no model endpoint: the transcript is kept, without insights
    first = qylon("meeting", "import", str(path), "--json")
    assert first.code == 0, first.stderr
    assert first.json["data"]["id"][:8] in failed.json["error"]["hint"]
    again = qylon("meeting", "import", str(path), "--client", "Other", "--json")
    assert again.code == 0, again.stderr
    assert again.json["data"]["id"] == first.json["data"]["id"]
    assert again.json["data"]["client"] is None  # nothing changed: `meeting edit` does that
    assert "imported before" in again.stderr and "meeting edit" in again.stderr
    assert [m["id"] for m in qylon("meeting", "list", "--json").json["data"]["items"]] == [
        first.json["data"]["id"]
    ]
    # Other bytes are another transcript; a deleted meeting's file imports afresh.
    other = write(tmp_path, "teams2.vtt", TEAMS.replace("migration plan", "rollout plan"))
    assert (
        qylon("meeting", "import", str(other), "--json").json["data"]["id"]
        != (first.json["data"]["id"])
    )
    assert qylon("meeting", "delete", first.json["data"]["id"], "--yes").code == 0
    fresh = qylon("meeting", "import", str(path), "--json")
    assert fresh.code == 0 and "imported before" not in fresh.stderr
    assert fresh.json["data"]["id"] != first.json["data"]["id"]
