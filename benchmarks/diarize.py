"""Diarization quality and speed: DER, speakers found, real-time factor.

    .venv/bin/python benchmarks/diarize.py [--threads 2] [--pyannote]

Files: real speech first, from ../shared/data: the two-speaker telephone call
(audio/two_speakers_call.wav, RTTM), four real voices joined (voices/concat_demo,
RTTM), two real voices in a six-turn exchange joined from voices/cmu_arctic
(reference: each clip's speech), and faster-whisper's stereo file (two people, one
per channel, talking over each other; reference: each channel's speech) as the
recorder's two-channel format. None of these was used to calibrate thresholds
(docs/speakers.md). Then the synthetic meetings in samples/diarize/*.toml (three and four espeak-ng voices,
varied voices, speeds and pauses, over a minute each), rebuilt with
samples/make_meeting.py into a temporary folder. The speaker count is found
automatically. DER: 10 ms frames, 0.25 s collar each side of reference
boundaries, overlapped speech scored, optimal speaker mapping
(benchmarks/der.py; with --pyannote, pyannote.metrics' DiarizationErrorRate
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
SHARED = Path(os.environ.get("QYLON_SHARED", REPO.parent / "shared"))
CALL = SHARED / "data" / "audio" / "two_speakers_call.wav"


VOICES = SHARED / "data" / "voices"


def _rttm(path: Path, turns) -> Path:
    path.write_text(
        "".join(
            f"SPEAKER x 1 {s:.3f} {e - s:.3f} <NA> <NA> {who} <NA> <NA>\n" for s, e, who in turns
        )
    )
    return path


def _write_wav(path: Path, samples) -> Path:
    import wave

    import numpy as np

    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(16000)
        fh.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def real_files(tmp: Path) -> list[tuple[str, Path, Path]]:
    import numpy as np
    from qylon_agent.speech import audio, diarize

    arctic = VOICES / "cmu_arctic"
    order = ["aew_a0001", "axb_a0004", "aew_a0002", "axb_a0005", "aew_a0003", "axb_a0006"]
    parts, ref, t = [], [], 0.0
    for name in order:
        x = audio.decode(arctic / f"cmu_arctic_us_{name}.wav").samples
        parts += [np.zeros(8000, np.float32), x]
        t += 0.5
        ref += [(t + s, t + e, name[:3]) for s, e in diarize.speech_regions(x)]
        t += len(x) / 16000
    joined = _write_wav(tmp / "arctic_exchange.wav", np.concatenate(parts))
    stereo = VOICES / "faster_whisper_stereo" / "stereo_diarization.wav"
    both = audio.decode(stereo)
    sides = [
        (s, e, who)
        for ch, who in ((0, "left"), (1, "right"))
        for s, e in diarize.speech_regions(both.channels[ch])
    ]
    concat = VOICES / "concat_demo" / "concat_demo_4spk.wav"
    return [
        ("real 4 voices (concat_demo)", concat, concat.with_suffix(".rttm")),
        ("real 2 voices, 6 turns (arctic)", joined, _rttm(tmp / "arctic.rttm", ref)),
        ("real 2 ch, talk-over (fw stereo)", stereo, _rttm(tmp / "stereo.rttm", sides)),
    ]


def files(tmp: Path) -> list[tuple[str, Path, Path]]:
    sys.path.insert(0, str(REPO / "samples"))
    import make_meeting

    out = [("two_speakers_call.wav", CALL, CALL.with_suffix(".rttm"))] + real_files(tmp)
    for script in sorted((REPO / "samples" / "diarize").glob("*.toml")):
        base = tmp / script.stem
        make_meeting.build(script, base)
        out.append(
            (f"synthetic {script.stem}", base.with_suffix(".ogg"), base.with_suffix(".rttm"))
        )
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
    import der  # benchmarks/der.py, beside this script
    from qylon_agent.speech import audio, diarize

    print(
        f"{'file':34} {'dur s':>6} {'ref':>3} {'found':>5} {'DER':>6} {'miss s':>6} {'FA s':>5} {'conf s':>6} {'RTF':>6} {'CPU RTF':>7}"
    )
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
                line += "  pyannote(collar=0.5): " + (
                    "not installed" if value is None else f"{value:.1%}"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
