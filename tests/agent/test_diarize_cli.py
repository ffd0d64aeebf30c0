"""Speakers through the real command: enroll, transcribe and see names, rename, profiles, errors.

The commands run in-process (``run_qylon_here``: the same entry point, environment, streams
and exit codes, without an interpreter start per command), so the whisper model and the
voice encoder load once; test_profiles_can_be_removed runs the real subprocess
(``qylon_process``): its refusal without --yes (stdin not a terminal) and its exit codes."""

from __future__ import annotations

from datetime import UTC

import numpy as np
import pytest
from qylon_agent.speech import voices

from tests.agent.audiofiles import write_wav
from tests.agent.test_diarize import DANA_1, DANA_2, MARCUS, _two_channel, clips  # noqa: F401  (session fixture)
from tests.conftest import run_qylon_here

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("voices"),
]  # the clips are made once per worker


@pytest.fixture
def qylon():
    """In-process; see the module docstring for the tests on the real subprocess."""
    return run_qylon_here


def _transcribe(qylon, path, *args, env=None):
    result = qylon("meeting", "transcribe", str(path), "--json", *args, env=env)
    assert result.code == 0, result.stderr
    return result.json["data"]


def test_enroll_then_transcribe_names_the_voice(qylon, clips):  # noqa: F811
    enrolled = qylon("speakers", "enroll", "Dana", str(clips["dana_enroll"]), "--json")
    assert enrolled.code == 0, enrolled.stderr
    assert enrolled.json["data"]["name"] == "Dana" and enrolled.json["data"]["samples"] == 1
    listed = qylon("speakers", "list", "--json").json["data"]["items"]
    assert [p["name"] for p in listed] == ["Dana"]
    human = qylon("speakers", "list")
    assert human.code == 0 and "Dana" in human.stdout

    meeting = _transcribe(qylon, clips["dana_other"])
    assert [(sp["id"], sp["name"], sp["name_source"]) for sp in meeting["speakers"]] == [
        ("SPEAKER_1", "Dana", "profile")
    ]
    assert voices.MATCH_THRESHOLD <= meeting["speakers"][0]["score"] <= 1
    assert meeting["speakers"][0]["talk_time_s"] > 3
    assert {s["speaker"] for s in meeting["segments"]} == {"SPEAKER_1"}
    # Someone else's voice is not given Dana's name.
    other = _transcribe(qylon, clips["solo"])
    assert [(sp["id"], sp["name"]) for sp in other["speakers"]] == [("SPEAKER_1", None)]


def test_meeting_speakers_rename_and_enroll(qylon, clips):  # noqa: F811
    meeting = _transcribe(qylon, clips["meeting"])
    assert [sp["id"] for sp in meeting["speakers"]] == ["SPEAKER_1", "SPEAKER_2", "SPEAKER_3"]
    first_speakers = [s["speaker"] for s in meeting["segments"]][:2]
    assert first_speakers[0] == "SPEAKER_1" and "SPEAKER_2" in {
        s["speaker"] for s in meeting["segments"]
    }
    mid = meeting["id"][:8]

    shown = qylon("meeting", "speakers", mid, "--json").json["data"]["items"]
    assert [r["id"] for r in shown] == ["SPEAKER_1", "SPEAKER_2", "SPEAKER_3"]
    assert all(r["quote"] and r["talk_time_s"] > 1 and r["segments"] >= 1 for r in shown)
    assert sum(r["share"] for r in shown) == pytest.approx(1.0, abs=0.01)

    renamed = qylon("meeting", "rename-speaker", mid, "SPEAKER_2", "Marcus", "--enroll", "--json")
    assert renamed.code == 0, renamed.stderr
    assert renamed.json["data"]["profile"]["name"] == "Marcus"
    again = qylon("meeting", "rename-speaker", mid, "3", "Priya", "--json")
    assert (
        again.code == 0
        and again.json["data"]["speaker"] == "SPEAKER_3"
        and again.json["data"]["profile"] is None
    )
    shown = qylon("meeting", "show", mid, "--json").json["data"]
    names = {sp["id"]: sp["name"] for sp in shown["speakers"]}
    # SPEAKER_1 says "My name is Dana": named from the conversation, as the words were heard.
    first = next(s["text"] for s in shown["segments"] if s["speaker"] == "SPEAKER_1")
    assert (
        shown["speakers"][0]["name_source"] == "conversation"
        and f"name is {names['SPEAKER_1']}" in first
    )
    assert {k: v for k, v in names.items() if k != "SPEAKER_1"} == {
        "SPEAKER_2": "Marcus",
        "SPEAKER_3": "Priya",
    }
    md = qylon("meeting", "export", mid, "--format", "md").stdout
    assert "**Marcus:**" in md and "**Priya:**" in md and f"**{names['SPEAKER_1']}:**" in md
    srt = qylon("meeting", "export", mid, "--format", "srt").stdout
    assert "Marcus: " in srt
    human = qylon("meeting", "speakers", mid)
    assert human.code == 0 and "Marcus" in human.stdout and "SPEAKER_1" in human.stdout

    # The voice learnt from the meeting names Marcus in a later recording.
    solo = _transcribe(qylon, clips["solo"])
    assert [sp["name"] for sp in solo["speakers"]] == ["Marcus"]

    missing = qylon("meeting", "rename-speaker", mid, "SPEAKER_9", "Nobody", "--json")
    assert missing.code == 5 and missing.json["error"]["code"] == "not_found"
    bad = qylon("meeting", "rename-speaker", mid, "SPEAKER_1", "  ", "--json")
    assert bad.code == 3


def test_profiles_can_be_removed(qylon_process, clips):  # noqa: F811
    qylon = qylon_process  # the real subprocess
    assert (
        qylon(
            "speakers",
            "enroll",
            "Dana",
            str(clips["dana_enroll"]),
            str(clips["dana_other"]),
            "--json",
        ).json["data"]["samples"]
        == 2
    )
    asked = qylon("speakers", "remove", "dana", "--json")  # no terminal, no --yes: kept
    assert asked.code == 2 and "--yes" in asked.json["error"]["hint"]
    removed = qylon("speakers", "remove", "dana", "--yes", "--json")
    assert removed.code == 0 and removed.json["data"]["deleted"] is True
    assert qylon("speakers", "list", "--json").json["data"]["items"] == []
    gone = qylon("speakers", "remove", "Dana", "--yes", "--json")
    assert gone.code == 5
    meeting = _transcribe(qylon, clips["dana_other"])
    assert meeting["speakers"][0]["name"] is None


def test_enroll_refuses_clips_without_enough_speech(qylon, tmp_path):
    silent = write_wav(tmp_path / "quiet.wav", np.zeros(16000 * 2, dtype=np.float32))
    result = qylon("speakers", "enroll", "Dana", str(silent), "--json")
    assert result.code == 3 and result.json["error"]["code"] == "too_little_speech"
    assert str(silent) in result.json["error"]["message"]
    assert qylon("speakers", "list", "--json").json["data"]["items"] == []
    missing = qylon("speakers", "enroll", "Dana", str(tmp_path / "nope.wav"), "--json")
    assert missing.code == 3 and missing.json["error"]["code"] == "file_not_found"


def test_transcribe_speaker_options(qylon, clips):  # noqa: F811
    plain = _transcribe(qylon, clips["meeting"], "--no-diarize")
    assert plain["speakers"] == [] and all(s["speaker"] is None for s in plain["segments"])
    none = qylon("meeting", "speakers", plain["id"][:8])
    assert none.code == 0 and "without diarization" in none.stdout
    assert qylon("meeting", "speakers", plain["id"][:8], "--json").json["data"]["items"] == []
    two = _transcribe(qylon, clips["meeting"], "--speakers", "2")
    assert len(two["speakers"]) == 2
    bad = qylon(
        "meeting",
        "transcribe",
        str(clips["meeting"]),
        "--min-speakers",
        "3",
        "--max-speakers",
        "2",
        "--json",
    )
    assert bad.code == 2 and "--min-speakers" in bad.json["error"]["message"]


def test_two_channel_recording_names_the_microphone_voice(qylon, clips, tmp_path):  # noqa: F811
    path, _ = _two_channel(clips, tmp_path)
    meeting = _transcribe(qylon, path, env={"QYLON_SPEAKERS_ME": "Sam"})
    assert [(sp["id"], sp["name"]) for sp in meeting["speakers"]] == [
        ("SPEAKER_1", "Sam"),
        ("SPEAKER_2", None),
    ]


def test_rename_moves_action_items_to_the_name(qylon):
    from datetime import datetime

    from qylon_agent.store.database import Store

    from qylon_cli.schemas import ActionItem, Meeting, Segment, Speaker

    store = Store()
    store.save_meeting(
        Meeting(
            id="33333333-3333-4333-8333-333333333333",
            title="Plan",
            created_at=datetime(2026, 11, 20, tzinfo=UTC),
            speakers=[
                Speaker(id="SPEAKER_1", talk_time_s=4),
                Speaker(id="SPEAKER_2", talk_time_s=2),
            ],
            segments=[
                Segment(start=0, end=4, speaker="SPEAKER_1", text="I will send the plan."),
                Segment(start=4, end=6, speaker="SPEAKER_2", text="Thanks."),
            ],
            action_items=[
                ActionItem(id="a1", owner="SPEAKER_1", task="Send the plan"),
                ActionItem(id="a2", owner="Bob", task="Call"),
            ],
        )
    )
    store.close()
    assert qylon("meeting", "rename-speaker", "3333", "SPEAKER_1", "Alice", "--json").code == 0
    data = qylon("meeting", "show", "3333", "--json").json["data"]
    assert {a["id"]: a["owner"] for a in data["action_items"]} == {"a1": "Alice", "a2": "Bob"}
    assert qylon("meeting", "rename-speaker", "3333", "Alice", "Alice Smith", "--json").code == 0
    data = qylon("meeting", "show", "3333", "--json").json["data"]
    assert {a["id"]: a["owner"] for a in data["action_items"]} == {"a1": "Alice Smith", "a2": "Bob"}
    assert {sp["id"]: sp["name"] for sp in data["speakers"]} == {
        "SPEAKER_1": "Alice Smith",
        "SPEAKER_2": None,
    }
