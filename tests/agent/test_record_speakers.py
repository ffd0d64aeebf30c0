"""Speakers of a real call recorded by `qylon meeting record` through the virtual devices.

The other side of the call (two real people, CMU ARCTIC clips) plays into the system
sink; the local user (J. F. Kennedy, real) plays into the virtual microphone, with
the call leaking into the microphone 25 dB down, as a laptop's speakers would. The
recorder writes its two-channel file; the real command transcribes it.
"""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest
from qylon_agent.speech import diarize
from qylon_agent.speech.audio import SAMPLE_RATE, Audio, decode

from benchmarks import der
from tests.agent.audiofiles import write_wav
from tests.agent.test_diarize_real import _clip
from tests.agent.test_record import Run, qylon
from tests.conftest import AUDIO

pytestmark = pytest.mark.slow


def _tracks():
    """(system track, microphone track, reference turns), same length, 16 kHz."""
    jfk = decode(AUDIO / "jfk.wav").samples
    plan = [
        ("sys", _clip("aew_a0001"), "aew"),
        ("mic", jfk[: int(5.5 * SAMPLE_RATE)], "me"),
        ("sys", _clip("axb_a0004"), "axb"),
        ("sys", _clip("aew_a0002"), "aew"),
        ("mic", jfk[int(5.5 * SAMPLE_RATE) :], "me"),
        ("sys", _clip("axb_a0006"), "axb"),
    ]
    length = int(sum(len(x) for _, x, _ in plan) + SAMPLE_RATE * (0.7 * len(plan) + 1))
    tracks = {"sys": np.zeros(length, np.float32), "mic": np.zeros(length, np.float32)}
    ref, t = [], 0.7
    for side, x, who in plan:
        at = int(t * SAMPLE_RATE)
        tracks[side][at : at + len(x)] += x
        ref += [(t + s, t + e, who) for s, e in diarize.speech_regions(x)]
        t += len(x) / SAMPLE_RATE + 0.7
    tracks["mic"] += 10 ** (-25 / 20) * tracks["sys"]  # the call heard by the microphone
    return tracks["sys"], tracks["mic"], ref


def _offset(recorded: np.ndarray, played: np.ndarray) -> float:
    """Seconds from the recording's start to the track's (cross-correlation of 10 ms envelopes)."""

    def env(x):
        n = len(x) // 160
        return np.sqrt(np.square(x[: n * 160]).reshape(n, 160).mean(axis=1))

    a, b = env(recorded), env(played)
    corr = np.correlate(a - a.mean(), b - b.mean(), mode="full")
    return (int(np.argmax(corr)) - (len(b) - 1)) * 0.01


def test_a_recorded_call_names_the_microphone_and_tells_the_others_apart(
    pulse, qylon_home, tmp_path
):
    system, mic, ref = _tracks()
    sys_wav, mic_wav = write_wav(tmp_path / "call.wav", system), write_wav(tmp_path / "me.wav", mic)
    run = Run(pulse, qylon_home, "record", "--device", "mic", "--no-transcribe", "--json")
    run.manifest()
    players = [pulse.play(sys_wav, "vsink"), pulse.play(mic_wav, "micsink")]
    for p in players:
        p.wait(timeout=60)
    time.sleep(0.5)
    run.proc.send_signal(signal.SIGTERM)
    code, out, err = run.finish()
    assert code == 0, err
    path = json.loads(out)["data"]["recording"]["audio_path"]

    code, out, err = qylon(pulse, qylon_home, "transcribe", path, "--json")
    assert code == 0, err
    meeting = json.loads(out)["data"]
    speakers = {sp["id"]: sp for sp in meeting["speakers"]}
    assert len(speakers) == 3
    me = [sp for sp in speakers.values() if sp["name_source"] == "local"]
    assert len(me) == 1 and me[0]["name"] == "Me"
    mine = " ".join(s["text"] for s in meeting["segments"] if s["speaker"] == me[0]["id"]).lower()
    assert "fellow americans" in mine and "for your country" in mine and "danger trail" not in mine

    # At least as good as the same recording down-mixed to mono.
    audio = decode(path)
    shift = _offset(audio.channels[1], system)
    ref = [(s + shift, e + shift, who) for s, e, who in ref]
    both = diarize.diarize(audio)
    mono = diarize.diarize(
        Audio(
            path=audio.path,
            samples=audio.samples,
            channels=None,
            original_rate=audio.original_rate,
            original_channels=1,
        )
    )

    def score(result):
        return der.score(ref, [(t.start, t.end, str(t.speaker)) for t in result.turns]).der

    assert both.n_speakers == 3
    assert score(both) <= max(0.10, score(mono))
