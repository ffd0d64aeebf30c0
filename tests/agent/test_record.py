"""`qylon meeting record / devices / recover`: real recordings through a private PulseAudio.

Audio is played into virtual sinks with paplay and recorded by the real command
(PortAudio → ALSA pulse plugin → PulseAudio), then checked by its transcript, its
length against the wall clock, or its levels.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import jiwer
import numpy as np
import pytest

from ..conftest import AUDIO
from .audiofiles import write_wav

REFERENCE = (AUDIO / "jfk.txt").read_text(encoding="utf-8")


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalise(reference), normalise(hypothesis))


class Run:
    """A `qylon meeting ...` subprocess against the private server."""

    def __init__(self, pulse, home: Path, *args: str, env: dict | None = None):
        self.home = home
        self.env = {
            **pulse.env,
            "QYLON_HOME": str(home),
            "NO_COLOR": "1",
            "COLUMNS": "200",
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qylon_cli", "meeting", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    def manifest(self, timeout: float = 30) -> dict:
        """Wait until the recorder has started capturing; return its manifest."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in (self.home / "recordings").glob("*/recording.json"):
                meta = json.loads(path.read_text())
                if meta.get("started_at"):
                    return meta
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.05)
        raise AssertionError("the recorder never started")

    def finish(self, timeout: float = 180):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def qylon(pulse, home: Path, *args: str, env: dict | None = None):
    run = Run(pulse, home, *args, env=env)
    return run.finish()


def wav_info(path: Path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path)) as fh:
        pcm = np.frombuffer(fh.readframes(fh.getnframes()), dtype="<i2").reshape(
            -1, fh.getnchannels()
        )
        return fh.getframerate(), fh.getnchannels(), pcm.astype(np.float32) / 32768


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x))) + 1e-9))


def has_tone(x: np.ndarray, rate: int, freq: float = 440.0) -> bool:
    """True when some quarter second of ``x`` is a loud sine at ``freq`` (most of its energy there)."""
    size = int(0.25 * rate)
    for start in range(0, max(len(x) - size, 0) + 1, size // 5):
        w = x[start : start + size]
        spec = np.abs(np.fft.rfft(w * np.hanning(len(w)))) ** 2
        freqs = np.fft.rfftfreq(len(w), 1 / rate)
        share = spec[np.abs(freqs - freq) < 20].sum() / (spec.sum() + 1e-12)
        if share > 0.9 and rms_db(w) > -20:
            return True
    return False


def test_devices_lists_microphones_and_loopback(pulse, qylon_home):
    code, out, err = qylon(pulse, qylon_home, "devices", "--json")
    assert code == 0, err
    by_name = {d["name"]: d for d in json.loads(out)["data"]["items"]}
    assert by_name["vsink.monitor"]["kind"] == "loopback"
    assert by_name["mic"]["kind"] == "microphone" and by_name["mic"]["default"]
    assert "pulse" in by_name  # the PortAudio device it is reached through
    code, out, err = qylon(pulse, qylon_home, "record", "--device", "no-such-thing", "--json")
    assert code == 5 and json.loads(out)["error"]["code"] == "no_such_device"


@pytest.mark.slow
def test_sigint_yields_complete_transcribed_meeting(pulse, qylon_home, jfk_wav, tmp_path):
    marker = write_wav(
        tmp_path / "marker.wav", 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    )
    run = Run(
        pulse,
        qylon_home,
        "record",
        "--device",
        "vsink.monitor",
        "--no-system-audio",
        "--title",
        "Inaugural",
        "--client",
        "USA",
        "--json",
    )
    meta = run.manifest()
    pulse.play(jfk_wav).wait(timeout=30)
    pulse.play(marker).wait(timeout=30)  # played out: the last sound before the signal
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 0, err
    data = json.loads(out)["data"]
    rec, meeting = data["recording"], data["meeting"]
    assert wer(REFERENCE, " ".join(s["text"] for s in meeting["segments"])) <= 0.1
    assert (meeting["title"], meeting["client"], meeting["id"]) == ("Inaugural", "USA", rec["id"])
    # Nothing lost: the file holds everything up to the signal, the marker that came last included.
    rate, channels, pcm = wav_info(Path(rec["audio_path"]))
    assert channels == 1 and rate == meta["rate"]
    assert len(pcm) / rate == pytest.approx(rec["duration_s"], abs=0.01)
    assert has_tone(pcm[-int(2.5 * rate) :, 0], rate) and not has_tone(
        pcm[: int(5 * rate), 0], rate
    )
    assert rec["state"] == "done" and rec["stopped_by"] == "signal"
    # Stored with its audio path, and findable.
    from qylon_agent.store.database import Store

    store = Store()
    assert store.audio_path(rec["id"]) == rec["audio_path"]
    store.close()
    code, out, _ = qylon(pulse, qylon_home, "search", "fellow americans", "--json")
    assert json.loads(out)["data"]["items"][0]["meeting_id"] == rec["id"]


def record_then_kill(pulse, home: Path, jfk_wav: Path, title: str, env: dict | None = None):
    """Record the speech for 7.5 s, then SIGKILL the recorder: its manifest and the kill's time."""
    run = Run(
        pulse,
        home,
        "record",
        "--device",
        "vsink.monitor",
        "--no-system-audio",
        "--title",
        title,
        env=env,
    )
    meta = run.manifest()
    player = pulse.play(jfk_wav)
    time.sleep(7.5)
    run.proc.kill()
    killed = time.time()
    run.finish()
    player.wait(timeout=30)
    return meta, killed


@pytest.mark.slow
def test_sigkill_then_recover_keeps_all_but_the_last_second(pulse, qylon_home, jfk_wav):
    meta, killed = record_then_kill(pulse, qylon_home, jfk_wav, "Crash")
    audio = qylon_home / "recordings" / meta["id"] / "audio.wav"
    # The next recording mentions it (and is itself a short one that finishes cleanly).
    code, _, err = qylon(
        pulse,
        qylon_home,
        "record",
        "--device",
        "vsink.monitor",
        "--no-system-audio",
        "--max-duration",
        "1",
        "--no-transcribe",
    )
    assert code == 0, err
    assert "1 interrupted recording" in err and meta["id"][:8] in err
    code, out, err = qylon(pulse, qylon_home, "recover", "--json")
    assert code == 0, err
    [done] = json.loads(out)["data"]
    assert done["recording"]["id"] == meta["id"] and done["recording"]["state"] == "done"
    rate, _, pcm = wav_info(audio)  # the header now tells the true length
    assert killed - meta["started_at"] - 1.0 <= len(pcm) / rate <= killed - meta["started_at"] + 0.2
    code, out, _ = qylon(pulse, qylon_home, "show", done["meeting_id"], "--json")
    text = normalise(" ".join(s["text"] for s in json.loads(out)["data"]["segments"]))
    assert "my fellow americans ask not what your country" in text
    # Nothing is left to recover.
    code, out, _ = qylon(pulse, qylon_home, "recover", "--json")
    assert json.loads(out)["data"] == []


@pytest.mark.slow
def test_silent_input_warns(pulse, qylon_home):
    code, out, err = qylon(
        pulse,
        qylon_home,
        "record",
        "--device",
        "vsink.monitor",
        "--no-system-audio",
        "--max-duration",
        "3.5",
        "--no-transcribe",
        "--json",
        env={"QYLON_RECORD_SILENCE_WARNING_S": "2"},
    )
    assert code == 0, err
    assert "silent for 2 s" in err
    data = json.loads(out)["data"]
    rec = data["recording"]
    assert rec["state"] == "finalised" and data["meeting"] is None
    assert any("silent" in w for w in rec["warnings"])
    rate, _, pcm = wav_info(Path(rec["audio_path"]))
    assert len(pcm) == int(3.5 * rate) and rms_db(pcm) < -90
    # Not transcribing was asked for: nothing to recover.
    assert json.loads(qylon(pulse, qylon_home, "recover", "--json")[1])["data"] == []


@pytest.mark.slow
def test_microphone_and_system_audio_in_two_channels(pulse, qylon_home, jfk_wav, tmp_path):
    tone = write_wav(
        tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)
    )
    run = Run(pulse, qylon_home, "record", "--device", "mic", "--no-transcribe", "--json")
    meta = run.manifest()
    assert [s["name"] for s in meta["sources"]] == ["mic", "vsink.monitor"]
    pulse.play(jfk_wav, "vsink").wait(timeout=30)  # the other side of the call
    pulse.play(tone, "micsink").wait(timeout=30)  # then the microphone
    time.sleep(0.3)
    run.proc.send_signal(signal.SIGTERM)
    code, out, err = run.finish()
    assert code == 0, err
    rate, channels, pcm = wav_info(Path(json.loads(out)["data"]["recording"]["audio_path"]))
    assert channels == 2
    seconds = len(pcm) / rate
    assert seconds >= 13
    mic, system = pcm[:, 0], pcm[:, 1]
    call = slice(int(1 * rate), int(10 * rate))  # JFK speaking, the microphone quiet
    assert rms_db(system[call]) > -40 and rms_db(mic[call]) < -80
    end = slice(len(pcm) - int(2.0 * rate), len(pcm) - int(0.5 * rate))  # the tone, the call quiet
    assert rms_db(mic[end]) > -15 and rms_db(system[end]) < -80
    # The pipeline sees both channels (diarization uses them).
    from qylon_agent.speech.audio import decode

    decoded = decode(json.loads(out)["data"]["recording"]["audio_path"])
    assert decoded.channels is not None and decoded.channels.shape[0] == 2


def recorded_s(run: Run, meta: dict) -> float:
    """Seconds of audio the recorder has written so far (the growing WAV's size)."""
    audio = run.home / "recordings" / meta["id"] / "audio.wav"
    return max(audio.stat().st_size - 44, 0) / (meta["rate"] * meta["channels"] * 2)


def recorded_pcm(run: Run, meta: dict) -> np.ndarray:
    """The first channel of what the recorder has written so far, as floats."""
    data = (run.home / "recordings" / meta["id"] / "audio.wav").read_bytes()[44:]
    data = data[: len(data) // (2 * meta["channels"]) * 2 * meta["channels"]]
    return (
        (np.frombuffer(data, dtype="<i2").reshape(-1, meta["channels"])[:, 0]).astype(np.float32)
        / 32768
    )


def wait_until(condition, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


@pytest.mark.slow
def test_pause_and_resume_with_sigusr1(pulse, qylon_home, tmp_path):
    """While paused nothing is recorded: a tone played only during the pause is not in the file."""
    tone = write_wav(
        tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    )
    run = Run(
        pulse,
        qylon_home,
        "record",
        "--device",
        "vsink.monitor",
        "--no-system-audio",
        "--no-transcribe",
        "--json",
    )
    meta = run.manifest()
    manifest = qylon_home / "recordings" / meta["id"] / "recording.json"

    def pauses() -> list[dict]:
        return json.loads(manifest.read_text()).get("pauses", [])

    wait_until(lambda: recorded_s(run, meta) >= 1.0)
    run.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: len(pauses()) == 1)
    pulse.play(tone).wait(timeout=30)  # heard only while paused
    time.sleep(0.5)  # a margin for the capture path's buffers, not a measurement
    run.proc.send_signal(signal.SIGUSR1)
    [pause] = wait_until(lambda: [p for p in pauses() if p["resumed_at"]])
    pulse.play(tone).wait(timeout=30)  # and once more, recording again
    wait_until(lambda: recorded_s(run, meta) >= pause["at_s"] + 1.5)
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 0, err
    assert f"Paused at {pause['at_s']:.0f} s" in err and "Recording again" in err
    rec = json.loads(out)["data"]["recording"]
    assert 1.0 <= pause["at_s"] and rec["duration_s"] >= pause["at_s"] + 1.5
    assert pause["resumed_at"] > pause["paused_at"]
    rate, _, pcm = wav_info(Path(rec["audio_path"]))
    assert len(pcm) / rate == pytest.approx(rec["duration_s"], abs=0.01)
    # One second of tone in the file, after the pause: the one played while paused is not there.
    assert not has_tone(pcm[: int(pause["at_s"] * rate), 0], rate) and has_tone(
        pcm[int(pause["at_s"] * rate) :, 0], rate
    )
    assert 0.8 <= np.count_nonzero(np.abs(pcm[:, 0]) > 0.05) / rate <= 1.2


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a small tmpfs (a disk that fills up) needs root, as in CI"
)
def test_full_disk_stops_cleanly_and_keeps_the_audio(pulse, qylon_home, tmp_path):
    small = tmp_path / "small-disk"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(small)],
        capture_output=True,
        check=False,
    )
    assert mounted.returncode == 0, f"cannot mount a small tmpfs: {mounted.stderr.decode().strip()}"
    try:
        code, out, err = qylon(
            pulse,
            qylon_home,
            "record",
            "--device",
            "vsink.monitor",
            "--no-system-audio",
            "--max-duration",
            "20",
            "--no-transcribe",
            "--json",
            env={"QYLON_RECORD_DIR": str(small)},
        )
        assert code == 0, err
        assert "MB free" in err  # warned before starting
        assert "The disk is full" in err
        rec = json.loads(out)["data"]["recording"]
        assert rec["stopped_by"] == "disk_full" and rec["state"] == "finalised"
        rate, _, pcm = wav_info(Path(rec["audio_path"]))
        assert 1.0 < len(pcm) / rate < 4.5 and abs(len(pcm) / rate - rec["duration_s"]) < 0.01
    finally:
        subprocess.run(["umount", str(small)], check=False)


@pytest.mark.slow
def test_live_transcript_while_recording(pulse, qylon_home, jfk_wav):
    run = Run(
        pulse,
        qylon_home,
        "record",
        "--device",
        "vsink.monitor",
        "--no-system-audio",
        "--live",
        "--max-duration",
        "13",
        "--no-transcribe",
    )
    run.manifest()
    pulse.play(jfk_wav).wait(timeout=30)
    code, _, err = run.finish()
    assert code == 0, err
    lines = re.findall(r"^\[(\d\d):(\d\d)\] (.+)$", err, flags=re.MULTILINE)
    assert len(lines) >= 2
    assert [int(m) * 60 + int(s) for m, s, _ in lines] == sorted(
        int(m) * 60 + int(s) for m, s, _ in lines
    )
    assert wer(REFERENCE, " ".join(text for _, _, text in lines)) <= 0.2


@pytest.mark.slow
def test_device_that_disappears_keeps_the_recording_going(pulse, qylon_home):
    module = pulse.pactl(
        "load-module", "module-remap-source", "master=micsink.monitor", "source_name=headset"
    ).strip()
    try:
        run = Run(
            pulse,
            qylon_home,
            "record",
            "--device",
            "headset",
            "--no-system-audio",
            "--max-duration",
            "5",
            "--no-transcribe",
            "--json",
        )
        run.manifest()
        time.sleep(1.5)
    finally:
        pulse.pactl("unload-module", module)  # the headset is unplugged
    code, out, err = run.finish()
    assert code == 0, err
    said = " ".join(err.split())
    assert (
        re.search(r"headset disappeared at \d+ s\. What was recorded is kept", said)
        and "default input, mic" in said
    )
    rec = json.loads(out)["data"]["recording"]
    assert rec["duration_s"] == 5.0 and rec["state"] == "finalised"


@pytest.mark.slow
def test_clipping_input_warns(pulse, qylon_home, tmp_path):
    loud = write_wav(
        tmp_path / "loud.wav", np.sign(np.sin(2 * np.pi * 200 * np.arange(32000) / 16000))
    )
    run = Run(
        pulse,
        qylon_home,
        "record",
        "--device",
        "vsink.monitor",
        "--no-system-audio",
        "--max-duration",
        "3",
        "--no-transcribe",
        "--json",
    )
    run.manifest()
    pulse.play(loud).wait(timeout=30)
    code, out, err = run.finish()
    assert code == 0, err
    assert "vsink.monitor is clipping (too loud)" in " ".join(err.split())
    assert any("clipping" in w for w in json.loads(out)["data"]["recording"]["warnings"])


@pytest.mark.slow
def test_sound_server_dying_keeps_what_was_recorded(qylon_home, tmp_path):
    from .pulse import PulseServer

    tone = write_wav(
        tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    )
    own = PulseServer().start()  # a server of its own: this test kills it
    try:
        run = Run(
            own,
            qylon_home,
            "record",
            "--device",
            "vsink.monitor",
            "--no-system-audio",
            "--no-transcribe",
            "--json",
        )
        meta = run.manifest()
        own.play(tone).wait(timeout=30)
        wait_until(
            lambda: has_tone(recorded_pcm(run, meta)[-int(3 * meta["rate"]) :], meta["rate"])
        )  # on disk
        kept = recorded_s(run, meta)
        os.kill(own.pid, signal.SIGKILL)
        time.sleep(3.5)  # the recorder's watchdog gives up on the device after 2 s without audio
        run.proc.send_signal(signal.SIGINT)
        code, out, err = run.finish(timeout=30)
    finally:
        own.stop()
    assert code == 0, err
    said = " ".join(err.split())
    assert (
        "No audio from vsink.monitor for 2 s: the device seems gone. What was recorded is kept"
        in said
    )
    assert "No default input yet" in said
    rec = json.loads(out)["data"]["recording"]
    rate, _, pcm = wav_info(Path(rec["audio_path"]))
    # Everything written before the server died is in the finalised file, the tone included.
    assert len(pcm) / rate >= kept and rec["duration_s"] == pytest.approx(len(pcm) / rate, abs=0.01)
    assert has_tone(pcm[:, 0], rate)
