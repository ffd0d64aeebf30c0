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


@pytest.fixture(scope="module")
def call_meeting(tmp_path_factory):
    """A real two-person call, transcribed once for the module (diarized: cues carry speakers)."""
    from ..conftest import run_qylon

    env = {"QYLON_HOME": str(tmp_path_factory.mktemp("subs-home"))}
    result = run_qylon(
        "meeting",
        "transcribe",
        str(AUDIO / "two_speakers_call.wav"),
        "--extractor",
        "offline",
        "--json",
        env=env,
    )
    assert result.code == 0, result.stderr
    return env, result.json["data"]


def seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def words_of(text: str) -> list[str]:
    return re.sub(r"<[^>]+>", "", text).split()


def test_srt_cues_keep_the_limits_and_every_word(qylon, call_meeting, tmp_path):
    env, meeting = call_meeting
    out = qylon("meeting", "export", meeting["id"], "-f", "srt", env=env).stdout
    subs = list(srt.parse(out))
    assert len(subs) > len(meeting["segments"])  # long segments were split
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
