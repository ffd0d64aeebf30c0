"""Word error rate and speed of Whisper models on the shared real recordings.

    .venv/bin/python benchmarks/models.py [--model tiny.en --model base ...] [--device cpu|cuda]
                                          [--compute-type int8] [--threads 0]

Each model (a name `qylon models list` shows, or a CTranslate2 folder) transcribes every
real recording under ../shared/data with a reference text (jfk, the two-speaker call,
six CMU ARCTIC sentences, the two faster-whisper test voices: about 80 s of speech)
through Qylon's own transcription (beam 5, VAD, word timestamps, guards), in this
process, model loaded once. Prints per model: WER over all the words (jiwer, lower-cased,
punctuation removed), the real-time factor (transcription wall time / audio length, model
load excluded), the load time and the peak resident memory of the process so far.
"""

from __future__ import annotations

import argparse
import re
import resource
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def recordings() -> list[tuple[Path, str]]:
    found = [
        (SHARED / "audio" / "jfk.wav", (SHARED / "audio" / "jfk.txt").read_text()),
        (
            SHARED / "audio" / "two_speakers_call.wav",
            (SHARED / "audio" / "two_speakers_call.txt").read_text(),
        ),
    ]
    for folder, listing in (
        ("cmu_arctic", "prompts.txt"),
        ("faster_whisper_stereo", "transcripts.txt"),
    ):
        for line in (SHARED / "voices" / folder / listing).read_text().splitlines():
            if line.startswith("#") or "\t" not in line:
                continue
            name, text = line.split("\t", 1)
            found.append((SHARED / "voices" / folder / name, text))
    return found


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", action="append", help="repeatable; default tiny.en")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--compute-type", default=None, help="default: int8 (cpu), float16 (cuda)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import jiwer
    from qylon_agent.speech import transcribe as stt
    from qylon_agent.speech.audio import decode

    from qylon_cli import settings as settings_mod

    settings = settings_mod.load()
    compute = args.compute_type or ("float16" if args.device == "cuda" else "int8")
    files = [(path, decode(path), ref) for path, ref in recordings()]
    speech_s = sum(audio.duration_s for _, audio, _ in files)
    print(f"{len(files)} recordings, {speech_s:.0f} s; device {args.device}, {compute}")
    print(f"{'model':<16} {'WER':>6} {'RTF':>6} {'load s':>7} {'peak MB':>8}")
    for model in args.model or ["tiny.en"]:
        opts = stt.Options(
            model=model,
            device=args.device,
            compute_type=compute,
            beam_size=5,
            language=None,
            threads=args.threads,
        )
        began = time.perf_counter()
        stt.load_model(opts, settings)
        loaded = time.perf_counter() - began
        refs, hyps, busy = [], [], 0.0
        for _path, audio, ref in files:
            began = time.perf_counter()
            got = stt.transcribe(audio, opts, settings=settings)
            busy += time.perf_counter() - began
            refs.append(normalise(ref))
            hyps.append(normalise(" ".join(s.text for s in got.segments)))
        wer = jiwer.wer(refs, hyps)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{model:<16} {wer:>6.1%} {busy / speech_s:>6.3f} {loaded:>7.2f} {peak:>8.0f}")


if __name__ == "__main__":
    main()
