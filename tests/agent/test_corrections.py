"""Correcting a stored meeting through the real commands: title, client, date, words,
action items; search, exports and notes follow, and a re-analysis keeps the corrections."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from qylon_agent.store.database import Store

from qylon_cli.schemas import ActionItem, Meeting, Segment, Speaker, Word

from ..conftest import run_qylon_here


@pytest.fixture
def qylon():
    """In-process: these tests run many commands each. The re-analysis test runs the real
    `qylon` subprocess."""
    return run_qylon_here


MID = "44444444-4444-4444-8444-444444444444"


def stored(qylon_home) -> Meeting:
    text = "Bob, could you send the migration report to Frankfurt by Friday?"
    meeting = Meeting(
        id=MID,
        title="weekly sync",
        client="Globe",
        created_at=datetime(2026, 11, 10, 9, 30, tzinfo=UTC),  # a Tuesday
        duration_s=12.0,
        language="en",
        model="tiny.en",
        speakers=[Speaker(id="SPEAKER_1", name="Alice"), Speaker(id="SPEAKER_2")],
        segments=[
            Segment(
                start=0.0,
                end=4.0,
                speaker="SPEAKER_1",
                text=text,
                words=[
                    Word(start=i * 0.4, end=i * 0.4 + 0.35, word=" " + w)
                    for i, w in enumerate(text.split())
                ],
            ),
            Segment(start=4.5, end=6.0, speaker="SPEAKER_2", text="Yes, I can do that."),
            Segment(start=7.0, end=9.0, speaker="SPEAKER_1", text="We meet Globe text week."),
        ],
        action_items=[
            ActionItem(
                id="b0b0b0b0b0b0",
                owner="Bob",
                task="Send the migration report to Frankfurt",
                due=date(2026, 11, 13),
                quote=text,
                start=0.0,
            )
        ],
    )
    store = Store()
    store.save_meeting(meeting)
    store.close()
    return meeting


def test_edit_title_client_and_date_moves_relative_due_dates(qylon, qylon_home):
    stored(qylon_home)
    result = qylon(
        "meeting",
        "edit",
        MID[:8],
        "--title",
        "Weekly sync",
        "--client",
        "Globex",
        "--date",
        "2026-11-18",
        "--json",
    )
    assert result.code == 0, result.stdout + result.stderr
    assert result.json["data"]["due_dates_moved"] == [
        {
            "id": "b0b0b0b0b0b0",
            "task": "Send the migration report to Frankfurt",
            "from": "2026-11-13",
            "to": "2026-11-20",
        }
    ]
    shown = qylon("meeting", "show", MID[:8], "--json").json["data"]
    assert (shown["title"], shown["client"], shown["created_at"][:16], shown["date_source"]) == (
        "Weekly sync",
        "Globex",
        "2026-11-18T09:30",
        "given",
    )  # the time of day is kept
    assert (
        qylon("meeting", "list", "--client", "globex", "--json").json["data"]["items"][0]["id"]
        == MID
    )
    md = qylon("meeting", "export", MID[:8], "--format", "md").stdout
    assert (
        md.startswith("# Weekly sync")
        and "**Client:** Globex" in md
        and "2026-11-18" in md
        and "(due 2026-11-20)" in md
    )
    # Analysing again counts from the moved date, without being told it again.
    again = qylon("meeting", "analyze", MID[:8], "--extractor", "offline", "--json").json["data"]
    assert [a["due"] for a in again["action_items"] if "report" in a["task"]] == ["2026-11-20"]
    assert qylon("meeting", "edit", MID[:8], "--json").code == 2
    assert qylon("meeting", "edit", MID[:8], "--date", "18/11/2026", "--json").code == 3


def test_analyze_date_is_kept_by_the_next_analysis(qylon_process, qylon_home):
    qylon = qylon_process
    stored(qylon_home)
    first = qylon(
        "meeting", "analyze", MID[:8], "--extractor", "offline", "--date", "2026-11-25", "--json"
    ).json["data"]
    assert (
        first["created_at"].startswith("2026-11-25")
        and first["action_items"][0]["due"] == "2026-11-27"
    )
    second = qylon("meeting", "analyze", MID[:8], "--extractor", "offline", "--json").json["data"]
    assert second["action_items"][0]["due"] == "2026-11-27"


def test_fix_a_segment_and_search_and_subtitles_follow(qylon, qylon_home):
    stored(qylon_home)
    assert qylon("meeting", "search", "Frankfurt", "--json").json["data"]["items"]
    result = qylon(
        "meeting",
        "fix",
        MID[:8],
        "1",
        "Bob, could you send the migration report to Globex by Friday?",
        "--json",
    )
    assert result.code == 0 and result.json["data"]["fixed"][0]["segment"] == 1
    assert qylon("meeting", "search", "Frankfurt", "--json").json["data"]["items"] == []
    assert [
        h["start"] for h in qylon("meeting", "search", "Globex", "--json").json["data"]["items"]
    ] == [0.0]
    assert "report to Globex by Friday" in qylon("meeting", "export", MID[:8], "-f", "srt").stdout
    words = Store().get_meeting(MID).segments[0].words
    assert [w.word.strip() for w in words][-4:] == ["to", "Globex", "by", "Friday?"] and words[
        8
    ].start == 3.2  # times kept
    assert qylon("meeting", "fix", MID[:8], "9", "nothing", "--json").code == 5
    assert qylon("meeting", "fix", MID[:8], "2", "   ", "--json").code == 3
    assert qylon("meeting", "fix", MID[:8], "--json").code == 2


def test_fix_from_an_exported_transcript_edited_in_an_editor(qylon, qylon_home, tmp_path):
    stored(qylon_home)
    exported = tmp_path / "call.txt"
    assert qylon("meeting", "export", MID[:8], "-f", "txt", "-o", str(exported)).code == 0
    exported.write_text(exported.read_text().replace("Globe text week", "Globex next week"))
    result = qylon("meeting", "fix", MID[:8], "--from-file", str(exported), "--json")
    assert result.code == 0, result.stdout
    assert [(f["segment"], f["to"]) for f in result.json["data"]["fixed"]] == [
        (3, "We meet Globex next week.")
    ]
    assert (
        qylon("meeting", "fix", MID[:8], "--from-file", str(exported), "--json").json["data"][
            "fixed"
        ]
        == []
    )
    exported.write_text(exported.read_text() + "[00:10] Alice: an extra line\n")
    bad = qylon("meeting", "fix", MID[:8], "--from-file", str(exported), "--json")
    assert (
        bad.code == 3
        and "4 lines" in bad.json["error"]["message"]
        and str(exported) in bad.json["error"]["message"]
    )


def test_items_added_and_corrected_by_hand_survive_a_reanalysis(qylon, qylon_home):
    stored(qylon_home)
    added = qylon(
        "meeting",
        "actions",
        "add",
        MID[:8],
        "Book the venue",
        "--owner",
        "Dana",
        "--due",
        "next Monday",
        "--json",
    )
    assert added.code == 0, added.stdout + added.stderr
    assert added.json["data"]["due"] == "2026-11-16" and added.json["data"]["edited"] == "added"
    edited = qylon(
        "meeting",
        "actions",
        "edit",
        "b0b0",
        "--owner",
        "Bob Stone",
        "--due",
        "2026-11-30",
        "--json",
    ).json["data"]
    assert (edited["owner"], edited["due"], edited["edited"]) == (
        "Bob Stone",
        "2026-11-30",
        "edited",
    )
    assert qylon("meeting", "actions", "edit", "b0b0", "--due", "someday", "--json").code == 3
    assert qylon("meeting", "actions", "edit", "b0b0", "--json").code == 3
    items = qylon("meeting", "analyze", MID[:8], "--extractor", "offline", "--json").json["data"][
        "action_items"
    ]
    by_task = {a["task"]: a for a in items}
    assert len(by_task) == len(items)  # the corrected item is not found a second time beside itself
    assert by_task["Book the venue"]["owner"] == "Dana"
    assert by_task["Send the migration report to Frankfurt"]["owner"] == "Bob Stone"
    assert by_task["Send the migration report to Frankfurt"]["due"] == "2026-11-30"
    notes = qylon("meeting", "export", MID[:8], "-f", "md").stdout
    assert "- [ ] Book the venue — **Dana** (due 2026-11-16)" in notes
