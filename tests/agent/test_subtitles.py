"""Subtitles that players and editors accept: cues of at most two lines of 42 characters and
7 seconds, split between words at the words' own times; they parse with `srt` and `webvtt-py`."""

from __future__ import annotations

import itertools
import json
import re

import pytest
import srt
import webvtt

from ..conftest import AUDIO


def _transcribed(tmp_path_factory, name: str):
    from ..conftest import run_qylon

    env = {"QYLON_HOME": str(tmp_path_factory.mktemp("subs-home"))}
    result = run_qylon(
        "meeting", "transcribe", str(AUDIO / name), "--extractor", "offline", "--json", env=env
    )
    assert result.code == 0, result.stderr
    return env, result.json["data"]


@pytest.fixture(scope="module")
def call_meeting(tmp_path_factory):
    """A real two-person call, transcribed once for the module (diarized: cues carry speakers)."""
    return _transcribed(tmp_path_factory, "two_speakers_call.wav")


@pytest.fixture(scope="module")
def speech_meeting(tmp_path_factory):
    """One long sentence (JFK, 11 s, over 100 characters)."""
    return _transcribed(tmp_path_factory, "jfk.wav")


def seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def words_of(text: str) -> list[str]:
    return re.sub(r"<[^>]+>", "", text).split()


def test_a_segment_too_long_for_a_cue_is_split_at_its_words_times(qylon, speech_meeting):
    from qylon_agent.store.subtitles import MAX_SECONDS, cues

    from qylon_cli.schemas import Meeting

    env, data = speech_meeting
    exported = qylon("meeting", "export", data["id"], "-f", "json", env=env).stdout
    meeting = Meeting.model_validate(json.loads(exported))
    # The whole sentence as one segment (10 s, over 100 characters), with its real word times.
    whole = meeting.segments[0].model_copy(
        update={
            "end": meeting.segments[-1].end,
            "text": " ".join(s.text for s in meeting.segments),
            "words": [w for s in meeting.segments for w in s.words],
        }
    )
    assert whole.end - whole.start > MAX_SECONDS and len(whole.text) > 84
    got = list(cues(meeting.model_copy(update={"segments": [whole]}), label_in_text=True))
    assert len(got) > 1
    assert [w for c in got for w in " ".join(c.lines).split()] == whole.text.split()
    starts = {round(w.start, 3) for w in whole.words}
    assert all(c.start in starts and c.end - c.start <= MAX_SECONDS for c in got)
    assert all(len(c.lines) <= 2 and all(len(x) <= 42 for x in c.lines) for c in got)


@pytest.mark.parametrize("fixture", ["call_meeting", "speech_meeting"])
def test_srt_cues_keep_the_limits_and_every_word(qylon, fixture, request):
    env, meeting = request.getfixturevalue(fixture)
    out = qylon("meeting", "export", meeting["id"], "-f", "srt", env=env).stdout
    subs = list(srt.parse(out))
    for sub in subs:
        lines = sub.content.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines), sub.content
        assert 0 < (sub.end - sub.start).total_seconds() <= 7.0
    spoken = [w for s in meeting["segments"] for w in s["text"].split()]
    shown = [w for sub in subs for w in re.sub(r"^[^:\n]+: ", "", sub.content).split()]
    assert shown == spoken
    assert all(
        a.end <= b.start
        for a, b in itertools.pairwise(subs)
        if a.content.split(":")[0] == b.content.split(":")[0]
    )


def test_vtt_cues_start_at_their_first_words_time(qylon, call_meeting, tmp_path):
    env, meeting = call_meeting
    target = tmp_path / "call.vtt"
    assert (
        qylon("meeting", "export", meeting["id"], "-f", "vtt", "-o", str(target), env=env).code == 0
    )
    captions = webvtt.read(str(target))
    for cap in captions:
        lines = cap.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines), cap.text
        assert 0 < seconds(cap.end) - seconds(cap.start) <= 7.0
        assert cap.voice
    data = json.loads(qylon("meeting", "export", meeting["id"], "-f", "json", env=env).stdout)
    word_starts = {round(w["start"], 3) for s in data["segments"] for w in s["words"]}
    assert all(round(seconds(c.start), 3) in word_starts for c in captions)
    assert sum(len(words_of(c.text)) for c in captions) == sum(
        len(s["text"].split()) for s in meeting["segments"]
    )
