"""Diarization error rate (DER), the standard way: 10 ms frames, a forgiveness collar
around reference boundaries, overlapped speech scored, optimal speaker mapping.

DER = (missed speech + false alarm + speaker confusion) / reference speech, all in
frames outside the collar. With k reference and h hypothesis speakers active in a
frame, the frame adds max(0, k - h) missed, max(0, h - k) false alarm and
min(k, h) - (correctly mapped speakers) confusion (NIST md-eval). The mapping
that maximises matched time is found exactly (Hungarian method, by brute force
over permutations for the few speakers a meeting has, else greedily).

An evaluation metric, not part of the agent: benchmarks/diarize.py and
calibrate_speakers.py import it as ``der`` (their own folder is on the path), the tests as
``from benchmarks import der`` (the repository root is on the path under pytest).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAME = 0.01


@dataclass
class Score:
    der: float
    missed: float
    false_alarm: float
    confusion: float
    total: float  # scored reference speech, seconds


def read_rttm(path: Path | str) -> list[tuple[float, float, str]]:
    turns = []
    for line in Path(path).read_text("utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0] == "SPEAKER":
            start, dur = float(parts[3]), float(parts[4])
            turns.append((start, start + dur, parts[7]))
    return turns


def _matrix(turns, n: int) -> tuple[np.ndarray, list[str]]:
    labels = sorted({t[2] for t in turns})
    m = np.zeros((len(labels), n), dtype=bool)
    for start, end, label in turns:
        m[labels.index(label), round(start / FRAME) : round(end / FRAME)] = True
    return m, labels


def _best_mapping(overlap: np.ndarray) -> float:
    r, h = overlap.shape
    if min(r, h) == 0:
        return 0.0
    if max(r, h) <= 8:
        if r <= h:
            return max(
                sum(overlap[i, p[i]] for i in range(r)) for p in itertools.permutations(range(h), r)
            )
        return max(
            sum(overlap[p[j], j] for j in range(h)) for p in itertools.permutations(range(r), h)
        )
    total, used_r, used_h = 0.0, set(), set()
    for idx in np.argsort(-overlap, axis=None):
        i, j = divmod(int(idx), h)
        if i not in used_r and j not in used_h:
            total += overlap[i, j]
            used_r.add(i)
            used_h.add(j)
    return total


def score(reference, hypothesis, *, collar: float = 0.25, duration: float | None = None) -> Score:
    """Score hypothesis turns [(start, end, label)] against reference turns; ``collar`` each side of boundaries."""
    end = max([t[1] for t in reference] + [t[1] for t in hypothesis] + [duration or 0.0])
    n = int(np.ceil(end / FRAME)) + 1
    ref, _ = _matrix(reference, n)
    hyp, _ = _matrix(hypothesis, n)
    scored = np.ones(n, dtype=bool)
    c = round(collar / FRAME)
    for start, stop, _ in reference:
        for edge in (round(start / FRAME), round(stop / FRAME)):
            scored[max(0, edge - c) : edge + c] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    k, h = ref.sum(axis=0), hyp.sum(axis=0)
    total = float(k.sum())
    missed = float(np.maximum(0, k - h).sum())
    false_alarm = float(np.maximum(0, h - k).sum())
    overlap = ref.astype(np.float32) @ hyp.T.astype(np.float32)
    confusion = float(np.minimum(k, h).sum()) - float(_best_mapping(overlap))
    err = missed + false_alarm + confusion
    return Score(
        der=err / total if total else 0.0,
        missed=missed * FRAME,
        false_alarm=false_alarm * FRAME,
        confusion=confusion * FRAME,
        total=total * FRAME,
    )
