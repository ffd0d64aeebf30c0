"""Batched against sequential transcription, and a long file's memory and progress: the
--batched and --long parts of benchmarks/transcribe.py (see its docstring)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
from models import normalise, recordings
from transcribe import MEASURE, PLAIN, PLAIN_BATCHED, measure

RUNNERS = ("qylon-sequential", "qylon-batched", "plain", "plain-batched")


def real_speech(dst: Path, minutes: float) -> str:
    """Write every shared recording with a reference, 0.8 s apart, repeated to ``minutes``,
    as 16 kHz mono WAV (written part by part); return the reference text."""
    from qylon_agent.speech.audio import decode

    gap = np.zeros(int(0.8 * 16000), np.float32)
    parts, refs = [], []
    for path, text in recordings():
        parts += [decode(path).samples, gap]
        refs.append(text)
    one = (np.clip(np.concatenate(parts), -1, 1) * 32767).astype("<i2").tobytes()
    repeats = int(minutes * 60 * 16000 * 2 // len(one)) + 1
    with wave.open(str(dst), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        for _ in range(repeats):
            out.writeframes(one)
    return " ".join(refs * repeats)


def _command(runner: str, path: Path) -> list[str]:
    qylon = str(Path(sys.executable).parent / "qylon")
    if runner.startswith("qylon"):
        mode = "--batched" if runner == "qylon-batched" else "--sequential"
        return [qylon, "meeting", "transcribe", str(path), mode, "--no-diarize", "--json"]
    if runner == "plain":
        text = PLAIN.replace(
            "sum(len(s.text) for s in segments)", "' '.join(s.text for s in segments)"
        )
        return [sys.executable, "-c", text, str(path), "same", "tiny.en", "cpu"]
    return [sys.executable, "-c", PLAIN_BATCHED, str(path)]


def _text(runner: str, printed: str) -> str:
    if runner.startswith("qylon"):
        return " ".join(s["text"] for s in json.loads(printed)["data"]["segments"])
    return printed


def compare(minutes: float, runs: int) -> None:
    import jiwer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "real_speech.wav"
        reference = normalise(real_speech(path, minutes))
        with wave.open(str(path)) as fh:
            duration = fh.getnframes() / fh.getframerate()
        print(f"{path.name}: {duration:.0f} s of real speech (the shared recordings, repeated)")
        print(f"{'round':<6}{'runner':<18}{'wall s':>8}{'CPU s':>8}{'WER':>7}{'peak MB':>9}  load")
        got: dict[str, list[tuple[float, float, float, float]]] = {r: [] for r in RUNNERS}
        for i in range(runs):
            for runner in RUNNERS:
                env = {
                    **os.environ,
                    "QYLON_HOME": f"{tmp}/home-{runner}-{i}",
                    "HF_HUB_OFFLINE": "1",
                }
                cmd = _command(runner, path)
                printed = Path(tmp) / "out.txt"
                wall, peak, cpu = measure(cmd, env, str(printed))
                wer = 100 * jiwer.wer(reference, normalise(_text(runner, printed.read_text())))
                got[runner].append((wall, cpu, wer, peak))
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                print(
                    f"{i + 1:<6}{runner:<18}{wall:>8.1f}{cpu:>8.1f}{wer:>7.2f}{peak:>9.0f}  {load}"
                )
        print(f"\nmedian of {runs}")
        print(
            f"{'runner':<18}{'RTF':>7}{'CPU s':>8}{'WER':>7}{'peak MB':>9}{'x wall':>8}{'x CPU':>7}"
        )
        base_wall = statistics.median(w for w, *_ in got["plain"])
        base_cpu = statistics.median(c for _, c, *_ in got["plain"])
        for runner, rows in got.items():
            wall = statistics.median(r[0] for r in rows)
            cpu = statistics.median(r[1] for r in rows)
            print(
                f"{runner:<18}{wall / duration:>7.3f}{cpu:>8.1f}{rows[0][2]:>7.2f}"
                f"{max(r[3] for r in rows):>9.0f}{base_wall / wall:>8.2f}{base_cpu / cpu:>7.2f}"
            )


def long(minutes: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        real_speech(path, minutes)
        env = {**os.environ, "QYLON_HOME": f"{tmp}/home", "HF_HUB_OFFLINE": "1"}
        qylon = str(Path(sys.executable).parent / "qylon")
        cmd = [qylon, "meeting", "transcribe", str(path), "--batched", "--no-diarize", "--json"]
        began = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", MEASURE, os.devnull, *cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        seen: list[tuple[float, float]] = []  # (seconds since start, percent)
        for line in child.stderr:
            if line.startswith("Transcribing ") and "%" in line:
                seen.append((time.perf_counter() - began, float(line.split(": ")[1].split("%")[0])))
        wall, rss_kb, cpu = child.stdout.read().split()
        child.wait()
        wall = float(wall)
        print(
            f"{minutes:.0f} min of real speech, batched: wall {wall:.0f} s, CPU {float(cpu):.0f} s, "
            f"peak {int(rss_kb) / 1024:.0f} MB, load {os.getloadavg()[0]:.1f}"
        )
        print(f"{'at %':>5}{'elapsed s':>11}{'predicted left':>16}{'true left':>11}")
        for target in (25, 50, 75):
            at, percent = next(((t, p) for t, p in seen if p >= target), (None, None))
            if at is None:
                continue
            predicted = at / percent * (100 - percent)
            print(f"{percent:>5.0f}{at:>11.0f}{predicted:>16.0f}{wall - at:>11.0f}")


def lengths(repeats: list[int]) -> None:
    """In this process, model loaded: Qylon's transcription of the shared speech repeated
    ``n`` times, sequential then batched, twice each (the threshold for "auto")."""
    from qylon_agent.speech import transcribe as stt
    from qylon_agent.speech.audio import Audio, decode

    gap = np.zeros(int(0.8 * 16000), np.float32)
    one = np.concatenate([x for path, _ in recordings() for x in (decode(path).samples, gap)])
    stt.load_model(stt.Options())
    print(f"{'audio s':>8} {'mode':<11}{'wall s':>8}{'CPU s':>8}  load")
    for n in repeats:
        audio = Audio(Path("speech.wav"), np.concatenate([one] * n), None, 16000, 1)
        for mode in ("false", "true", "false", "true"):
            wall, cpu = time.perf_counter(), time.process_time()
            stt.transcribe(audio, stt.Options(batched=mode))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            name = "batched" if mode == "true" else "sequential"
            print(
                f"{audio.duration_s:>8.0f} {name:<11}{wall:>8.1f}{cpu:>8.1f}  {os.getloadavg()[0]:.1f}"
            )
