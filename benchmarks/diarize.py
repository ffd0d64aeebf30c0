"""Diarization quality and speed: DER, speakers found, real-time factor.

    .venv/bin/python benchmarks/diarize.py [--threads 2] [--pyannote]

Files: ../shared/data/audio/two_speakers_call.wav against its RTTM, and the
synthetic meetings in samples/diarize/*.toml (three and four espeak-ng voices,
varied voices, speeds and pauses, over a minute each), rebuilt with
samples/make_meeting.py into a temporary folder. The speaker count is found
automatically. DER: 10 ms frames, 0.25 s collar each side of reference
boundaries, overlapped speech scored, optimal speaker mapping
(qylon_agent/der.py; with --pyannote, pyannote.metrics' DiarizationErrorRate
with collar=0.5 is printed beside it when it is installed).

RTF is diarization time (VAD + embeddings + clustering, after decoding) over the
audio's duration, best of 3 runs, with BLAS/ONNX threads limited to --threads;
CPU RTF is the process's CPU time (all threads) over the duration, which a busy
machine inflates less than wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CALL = REPO.parent / "shared" / "data" / "audio" / "two_speakers_call.wav"


def files(tmp: Path) -> list[tuple[str, Path, Path]]:
    sys.path.insert(0, str(REPO / "samples"))
    import make_meeting

    out = [("two_speakers_call.wav", CALL, CALL.with_suffix(".rttm"))]
    for script in sorted((REPO / "samples" / "diarize").glob("*.toml")):
        base = tmp / script.stem
        make_meeting.build(script, base)
        out.append((f"synthetic {script.stem}", base.with_suffix(".ogg"), base.with_suffix(".rttm")))
    return out


def pyannote_der(ref, hyp) -> float | None:
    try:
        from pyannote.core import Annotation, Segment
        from pyannote.metrics.diarization import DiarizationErrorRate
    except ImportError:
        return None
    r, h = Annotation(), Annotation()
    for s, e, label in ref:
        r[Segment(s, e)] = label
    for s, e, label in hyp:
        h[Segment(s, e)] = label
    return DiarizationErrorRate(collar=0.5, skip_overlap=False)(r, h)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pyannote", action="store_true")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    from qylon_agent import audio, der, diarize

    print(f"{'file':34} {'dur s':>6} {'ref':>3} {'found':>5} {'DER':>6} {'miss s':>6} {'FA s':>5} {'conf s':>6} {'RTF':>6} {'CPU RTF':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, rttm in files(Path(tmp)):
            decoded = audio.decode(path)
            diarize.diarize(decoded)  # load the encoder and the VAD model once
            times, cpu = [], []
            for _ in range(3):
                t0, c0 = time.perf_counter(), time.process_time()
                result = diarize.diarize(decoded)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            ref = der.read_rttm(rttm)
            hyp = [(t.start, t.end, f"S{t.speaker}") for t in result.turns]
            score = der.score(ref, hyp, duration=decoded.duration_s)
            line = (
                f"{name:34} {decoded.duration_s:6.1f} {len({r[2] for r in ref}):3d} {result.n_speakers:5d} "
                f"{score.der:6.1%} {score.missed:6.2f} {score.false_alarm:5.2f} {score.confusion:6.2f} "
                f"{min(times) / decoded.duration_s:6.3f} {min(cpu) / decoded.duration_s:7.3f}"
            )
            if args.pyannote:
                value = pyannote_der(ref, hyp)
                line += "  pyannote(collar=0.5): " + ("not installed" if value is None else f"{value:.1%}")
            print(line, flush=True)


if __name__ == "__main__":
    main()
