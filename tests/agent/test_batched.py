"""Batched transcription (speech/batched.py) against sequential: the same words, word
timestamps, speakers, silence guards and progress, on the shared real recordings."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jiwer
import numpy as np
import pytest

from ..conftest import AUDIO, SHARED
from .audiofiles import read_wav, write_wav

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

MODES = ("--batched", "--sequential")


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def test_chunks_glue_stretches_and_map_times_back():
    from qylon_agent.speech.batched import plan

    sr = 16000
    speech = [
        {"start": 1 * sr, "end": 11 * sr},
        {"start": 14 * sr, "end": 24 * sr},
        {"start": 30 * sr, "end": 40 * sr},
    ]
    chunks = plan(speech, chunk_s=24.0)
    assert [c.spans for c in chunks] == [
        [(1 * sr, 11 * sr), (14 * sr, 24 * sr)],
        [(30 * sr, 40 * sr)],
    ]
    first = chunks[0]
    assert first.duration == 20.0
    assert (first.file_time(2.0), first.file_time(12.5), first.file_time(25.0)) == (
        3.0,
        16.5,
        24.0,
    )
    rest = first.after(12.5)
    assert rest.spans == [(16.5 * sr, 24 * sr)] and rest.file_time(0.0) == 16.5
    samples = np.arange(40 * sr, dtype=np.float32)
    assert np.array_equal(first.audio(samples)[10 * sr : 10 * sr + 3], samples[14 * sr :][:3])


def test_auto_mode_is_batched_beyond_the_threshold(qylon_here):
    from qylon_agent.speech.transcribe import Options, options_from_settings

    from qylon_cli import settings as settings_mod

    opts = options_from_settings(settings_mod.load())
    assert (opts.batched, opts.batched_after_s) == ("auto", 150)
    assert not opts.use_batched(149.0) and opts.use_batched(151.0)
    assert Options(batched="true").use_batched(5.0)
    assert not Options(batched="false").use_batched(3600.0)
    refused = qylon_here("config", "set", "transcribe.batched", "sometimes", "--json")
    assert refused.code == 3 and "auto, true, false" in refused.json["error"]["message"]


@pytest.mark.parametrize("mode", MODES)
def test_words_speakers_and_progress(qylon, mode):
    call = AUDIO / "two_speakers_call.wav"
    result = qylon("meeting", "transcribe", str(call), mode, "--speakers", "2", "--json")
    assert result.code == 0, result.stderr
    data = result.json["data"]
    assert len({s["speaker"] for s in data["segments"]}) == 2
    exported = qylon("meeting", "export", data["id"], "--format", "json")
    segments = json.loads(exported.stdout)["segments"]  # with the words' times
    for seg in segments:
        assert seg["words"], seg
        assert seg["start"] <= seg["words"][0]["start"] <= seg["words"][-1]["end"] <= seg["end"]
        assert all(w["start"] <= w["end"] for w in seg["words"])
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts) and 0 <= starts[0] and segments[-1]["end"] <= 30.0
    reference = (AUDIO / "two_speakers_call.txt").read_text()
    hypothesis = " ".join(s["text"] for s in segments)
    assert jiwer.wer(normalise(reference), normalise(hypothesis)) < 0.2
    lines = [x for x in result.stderr.splitlines() if x.startswith("Transcribing ")]
    assert lines and lines[-1].startswith("Transcribing two_speakers_call.wav: 100% (00:30/00:30)")


@pytest.mark.parametrize("mode", MODES)
def test_no_words_invented_in_silence(qylon, tmp_path, jfk_wav, mode):
    speech = read_wav(jfk_wav)
    gap = np.zeros(16000 * 25, dtype=np.float32)
    path = write_wav(tmp_path / "gap.wav", np.concatenate([speech, gap, speech]))
    result = qylon("meeting", "transcribe", str(path), mode, "--no-diarize", "--json")
    assert result.code == 0, result.stderr
    segments = result.json["data"]["segments"]
    silent = (11.3, 35.7)
    assert not [s for s in segments if s["start"] < silent[1] - 0.3 and s["end"] > silent[0] + 0.3]
    reference = normalise((AUDIO / "jfk.txt").read_text())
    before = " ".join(s["text"] for s in segments if s["end"] <= silent[0] + 0.3)
    after = " ".join(s["text"] for s in segments if s["start"] >= silent[1] - 0.3)
    assert jiwer.wer(reference, normalise(before)) <= 0.1
    assert jiwer.wer(reference, normalise(after)) <= 0.1


@pytest.mark.slow
def test_batched_is_as_accurate_as_sequential_on_the_real_recordings():
    """Every shared recording with a reference, one after another, twice, in one file
    (160 s, 708 words): the batched transcript's word error rate is at most two points above
    sequential's. Measured: 10.5 % against 10.7 % on one machine, 11.6 % against 10.2 % on
    another (the same code and model: CTranslate2's int8 kernels differ by CPU, and at this
    length the ten words one chunk boundary can cost are 1.4 points). The plain batched
    pipeline of faster-whisper loses 2.6 points; issue 23's one point is held on the
    10-minute file of benchmarks/transcribe_batched.py (docs/benchmarks.md)."""
    from models import recordings
    from qylon_agent.speech import transcribe as stt
    from qylon_agent.speech.audio import Audio, decode

    assert SHARED.exists()
    gap = np.zeros(16000, dtype=np.float32)
    parts, refs = [], []
    for path, text in recordings():
        parts += [decode(path).samples, gap]
        refs.append(text)
    audio = Audio(Path("real.wav"), np.concatenate(parts * 2), None, 16000, 1)
    reference = normalise(" ".join(refs * 2))
    scores, seen = {}, {}
    for mode in ("false", "true"):
        progress: list[float] = []
        transcript = stt.transcribe(
            audio,
            stt.Options(batched=mode),
            on_progress=lambda at, total, progress=progress: progress.append(at),
        )
        hypothesis = " ".join(s.text for s in transcript.segments)
        scores[mode] = jiwer.wer(reference, normalise(hypothesis))
        seen[mode] = progress
        assert all(s.words and s.start <= s.words[0].start for s in transcript.segments)
    assert scores["true"] <= scores["false"] + 0.02, scores
    assert scores["false"] < 0.2
    for progress in seen.values():
        assert progress == sorted(progress) and progress[-1] == audio.duration_s


def test_the_same_file_gives_the_same_transcript_in_every_run(qylon, tmp_path, jfk_wav):
    """The model is unsure of the second turn after the long silence and decodes it again by
    sampling (temperature fallback); the sampling is seeded, so every new process gives the
    same words (unseeded, runs of this file differed)."""
    speech = read_wav(jfk_wav)
    path = write_wav(
        tmp_path / "gap.wav", np.concatenate([speech, np.zeros(16000 * 25, np.float32), speech])
    )
    runs = [
        qylon("meeting", "transcribe", str(path), "--sequential", "--no-diarize", "--json")
        for _ in range(2)
    ]
    assert [r.code for r in runs] == [0, 0]
    texts = [[(s["start"], s["text"]) for s in r.json["data"]["segments"]] for r in runs]
    assert texts[0] == texts[1]
