"""Real-time factor and peak memory of `qylon meeting transcribe`, beside plain faster-whisper.

    .venv/bin/python benchmarks/transcribe.py [--runs 2] [--model PATH] [--device cuda]
    .venv/bin/python benchmarks/transcribe.py --batched [--runs 3] [--minutes 10]
    .venv/bin/python benchmarks/transcribe.py --long 60
    .venv/bin/python benchmarks/transcribe.py --lengths 1,2,4

For ../shared/data/audio/two_speakers_call.wav and a 10-minute file made by
concatenating it, runs in separate processes (wall time includes start-up and model
load for both):
  - qylon:  `qylon meeting transcribe FILE --json` (decode, VAD, transcription with
            word timestamps, hallucination guard, storage) on a fresh QYLON_HOME;
  - plain:  faster-whisper alone with the same model and options (tiny.en, int8,
            beam 5, VAD, word timestamps);
  - plain-defaults: faster-whisper with its default options (no VAD, no word timestamps).
Overhead is qylon vs plain (the same work); the target is at most 10 %.

--model takes a CTranslate2 Whisper folder instead of the bundled tiny.en (each run has
a fresh QYLON_HOME, so names from `qylon models list` are not known there); --device cuda runs both on a GPU with float16 (peak MB is then the
process's host memory; the GPU's own is not measured). No machine here has a GPU:
docs/benchmarks.md says so rather than show figures.

--batched compares batched transcription with sequential on a file of real speech: every
shared recording with a reference (benchmarks/models.py: jfk, the two-speaker call, CMU
ARCTIC, faster-whisper's voices; about 80 s), 0.8 s apart, repeated to --minutes. Four
runners, each in its own process, interleaved (one of each per round, --runs rounds):
qylon-sequential and qylon-batched (`qylon meeting transcribe --sequential|--batched
--no-diarize`), plain (faster-whisper sequential, the options above) and plain-batched
(faster-whisper's BatchedInferencePipeline, batch 8, same options). Prints the median
wall time, CPU seconds, real-time factor, word error rate (jiwer, lower-cased, punctuation
removed) and peak memory, the load average at each run, and each runner's speed-up
over plain (by wall time and by CPU time: the machine is shared).

--long MINUTES transcribes a MINUTES-long file of the same speech with `qylon meeting
transcribe --batched --no-diarize` and prints its peak memory and, from the progress
lines it writes, how far the time left that the elapsed rate predicts at 25, 50 and 75 %
was from the truth.

--lengths N,M,... transcribes the same speech repeated N, M, ... times (78 s each) in this
process, sequential then batched, twice each: wall and CPU seconds, for the length beyond
which "auto" chooses batched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CALL = REPO.parent / "shared" / "data" / "audio" / "two_speakers_call.wav"

PLAIN = """
import sys
from faster_whisper import WhisperModel
from qylon_agent.speech.transcribe import resolve_model
from qylon_cli import settings
path, _ = resolve_model(sys.argv[3], settings.load())
model = WhisperModel(str(path), device=sys.argv[4], compute_type="float16" if sys.argv[4] == "cuda" else "int8")
kwargs = dict(language="en", beam_size=5)
if sys.argv[2] == "same":
    kwargs.update(vad_filter=True, word_timestamps=True, condition_on_previous_text=False)
segments, _ = model.transcribe(sys.argv[1], **kwargs)
print(sum(len(s.text) for s in segments))
"""

MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1], "w") as out:
    subprocess.run(sys.argv[2:], check=True, stdout=out)
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(time.perf_counter() - start, used.ru_maxrss, used.ru_utime + used.ru_stime)
"""

PLAIN_BATCHED = """
import sys
from faster_whisper import BatchedInferencePipeline, WhisperModel
from qylon_agent.speech.transcribe import resolve_model
path, _ = resolve_model("tiny.en")
model = BatchedInferencePipeline(WhisperModel(str(path), device="cpu", compute_type="int8"))
segments, _ = model.transcribe(sys.argv[1], language="en", beam_size=5, vad_filter=True,
                               word_timestamps=True, batch_size=8)
print(" ".join(s.text for s in segments))
"""


def measure(cmd: list[str], env: dict, stdout: str = os.devnull) -> tuple[float, float, float]:
    """(wall s, peak MB, CPU s) of ``cmd`` in a process of its own; its stdout to ``stdout``."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, stdout, *cmd],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    seconds, rss_kb, cpu = out.stdout.split()
    return float(seconds), int(rss_kb) / 1024, float(cpu)


def concat(src: Path, dst: Path, seconds: float) -> float:
    with wave.open(str(src)) as fh:
        params, frames = fh.getparams(), fh.readframes(fh.getnframes())
    repeats = int(seconds // (params.nframes / params.framerate)) + 1
    with wave.open(str(dst), "wb") as out:
        out.setparams(params)
        out.writeframes(frames * repeats)
    return repeats * params.nframes / params.framerate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--model", default="tiny.en", help="a CTranslate2 model folder")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batched", action="store_true", help="batched against sequential")
    parser.add_argument("--minutes", type=float, default=10.0, help="with --batched")
    parser.add_argument("--long", type=float, metavar="MINUTES", help="memory and progress")
    parser.add_argument("--lengths", help="e.g. 1,2,4: the shared speech repeated so often")
    args = parser.parse_args()
    if args.batched or args.long or args.lengths:
        import transcribe_batched

        if args.lengths:
            transcribe_batched.lengths([int(n) for n in args.lengths.split(",")])
        elif args.long:
            transcribe_batched.long(args.long)
        else:
            transcribe_batched.compare(args.minutes, args.runs)
        return
    qylon = str(Path(sys.executable).parent / "qylon")
    with tempfile.TemporaryDirectory() as tmp:
        long = Path(tmp) / "ten_minutes.wav"
        files = [(CALL, 30.0), (long, concat(CALL, long, 600))]
        print(f"{'file':<26}{'runner':<16}{'RTF':>7}{'wall s':>9}{'peak MB':>9}")
        for path, duration in files:
            results = {}
            for runner in ("qylon", "plain", "plain-defaults"):
                walls, peaks = [], []
                for i in range(args.runs):
                    env = {
                        **os.environ,
                        "QYLON_HOME": f"{tmp}/home-{runner}-{i}",
                        "HF_HUB_OFFLINE": "1",
                        "QYLON_TRANSCRIBE_COMPUTE_TYPE": "float16"
                        if args.device == "cuda"
                        else "int8",
                    }
                    if runner == "qylon":
                        cmd = [
                            qylon,
                            "meeting",
                            "transcribe",
                            str(path),
                            "--no-diarize",
                            "--model",
                            args.model,
                            "--device",
                            args.device,
                            "--json",
                        ]  # diarization: benchmarks/diarize.py
                    else:
                        cmd = [
                            sys.executable,
                            "-c",
                            PLAIN,
                            str(path),
                            "same" if runner == "plain" else "defaults",
                            args.model,
                            args.device,
                        ]
                    wall, peak, _ = measure(cmd, env)
                    walls.append(wall)
                    peaks.append(peak)
                wall = statistics.median(walls)
                results[runner] = wall
                print(
                    f"{path.name:<26}{runner:<16}{wall / duration:>7.3f}{wall:>9.2f}{max(peaks):>9.0f}"
                )
            overhead = results["qylon"] / results["plain"] - 1
            print(f"{path.name:<26}{'overhead':<16}{overhead:>+7.1%}")


if __name__ == "__main__":
    main()
