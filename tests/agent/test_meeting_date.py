"""A meeting's date is the recording's, not the day it was transcribed: from --date/--time,
the file's tags, or its modification time; "by Friday" counts from it."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime

import pytest
from qylon_agent.speech.audio import decode
from qylon_agent.store import meeting_date

from ..conftest import SAMPLES, run_qylon_here
from .audiofiles import encode


@pytest.fixture
def qylon():
    """In-process: the model loads once per worker rather than once per transcription.
    `meeting recover` runs the real subprocess (qylon_process), as do most other modules."""
    return run_qylon_here


def transcribe(qylon, path, *extra) -> dict:
    result = qylon(
        "meeting",
        "transcribe",
        str(path),
        "--no-diarize",
        "--extractor",
        "offline",
        *extra,
        "--json",
    )
    assert result.code == 0, result.stdout + result.stderr
    return result.json["data"]


def report_due(meeting: dict) -> str:
    # "Bob, could you send the migration report to their chief accountant by Friday?"
    return next(
        a["due"] for a in meeting["action_items"] if "migration report" in a["task"].lower()
    )


def test_an_old_file_gets_its_own_date_and_the_right_due_dates(qylon, tmp_path):
    old = tmp_path / "weekly.ogg"
    shutil.copy(SAMPLES / "team_meeting.ogg", old)
    ended = datetime(
        2026, 11, 10, 11, 0, tzinfo=UTC
    ).timestamp()  # a Tuesday; the file was last written then
    os.utime(old, (ended, ended))
    meeting = transcribe(qylon, old)
    assert meeting["date_source"] == "file_time"
    assert meeting["created_at"].startswith("2026-11-10T10:59")  # the end less the 43.5 s it lasted
    assert report_due(meeting) == "2026-11-13"
    shown = qylon("meeting", "show", meeting["id"][:8]).stdout
    assert "date: 2026-11-10 10:59 (the file's modification time)" in shown


def test_the_recordings_tags_win_over_the_file_time(qylon, tmp_path):
    tagged = encode(
        decode(SAMPLES / "team_meeting.ogg").samples,
        tmp_path / "weekly.m4a",
        tags={"creation_time": "2026-11-04T15:00:00.000000Z"},
    )  # a Wednesday
    meeting = transcribe(qylon, tagged)
    assert (meeting["created_at"], meeting["date_source"]) == ("2026-11-04T15:00:00Z", "recording")
    assert report_due(meeting) == "2026-11-06"


def test_date_and_time_given(qylon, tmp_path):
    meeting = transcribe(
        qylon, SAMPLES / "team_meeting.ogg", "--date", "2026-11-18", "--time", "14:30"
    )
    assert meeting["date_source"] == "given" and report_due(meeting) == "2026-11-20"
    assert datetime.fromisoformat(meeting["created_at"]) == datetime(
        2026, 11, 18, 14, 30
    ).astimezone(UTC)
    bad = qylon(
        "meeting", "transcribe", str(SAMPLES / "team_meeting.ogg"), "--time", "25:00", "--json"
    )
    assert bad.code == 3 and "--time" in bad.json["error"]["message"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-04T15:00:00.000000Z", "2026-11-04T15:00:00+00:00"),
        ("2026-11-04 15:00:00", datetime(2026, 11, 4, 15).astimezone(UTC).isoformat()),
        ("2026-11-04", datetime(2026, 11, 4, 12).astimezone(UTC).isoformat()),
        ("2026", None),  # a year alone says too little
        ("1970-01-01T00:00:00Z", None),  # a device whose clock was never set
        ("not a date", None),
    ],
)
def test_tag_values(value, expected):
    parsed = meeting_date._parse_tag(value)
    assert (parsed.isoformat() if parsed else None) == expected


def crashed_recording(started: datetime):
    from qylon_agent.recording import files as recording

    rec = recording.Recording.create(
        recording.root(), title="Weekly", rate=16000, channels=1, transcribe=True
    )
    writer = recording.WavWriter(rec.audio, 16000, 1)
    writer.write((decode(SAMPLES / "team_meeting.ogg").samples * 32767).astype("<i2").tobytes())
    os.close(writer.fd)  # the recorder died: `meeting recover` finishes it
    rec.update(started_at=started.timestamp())
    rec.unlock()
    return rec


@pytest.mark.parametrize(
    ("extra", "day", "source", "due"),
    [
        ((), "2026-11-10", "recorder", "2026-11-13"),  # the recorder's start, before the insights
        (("--date", "2026-11-18"), "2026-11-18", "given", "2026-11-20"),
    ],
)
def test_a_recording_is_dated_when_the_recorder_started(qylon_process, extra, day, source, due):
    qylon = qylon_process
    rec = crashed_recording(datetime(2026, 11, 10, 10, 0, tzinfo=UTC))
    result = qylon(
        "meeting", "recover", rec.id[:8], *extra, "--json", env={"QYLON_SPEAKERS_DIARIZE": "false"}
    )
    assert result.code == 0, result.stdout + result.stderr
    meeting = qylon("meeting", "show", result.json["data"][0]["meeting_id"], "--json").json["data"]
    assert (meeting["created_at"][:10], meeting["date_source"], report_due(meeting)) == (
        day,
        source,
        due,
    )
    if not extra:
        assert meeting["created_at"] == "2026-11-10T10:00:00Z"


def test_a_date_for_every_pending_recording_is_refused(qylon):
    assert qylon("meeting", "recover", "--date", "2026-11-18", "--json").code == 2
