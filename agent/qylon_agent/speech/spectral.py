"""Spectral clustering with an automatic number of clusters (NME-SC).

Park et al., "Auto-Tuning Spectral Clustering for Speaker Diarization Using
Normalized Maximum Eigengap" (2019): the affinity matrix keeps each row's
``p`` strongest links (binarised, symmetrised); the Laplacian's largest
eigengap among its smallest eigenvalues gives the number of clusters, and ``p``
is chosen where that gap is clearest relative to how much was pruned. The
cluster labels come from k-means on the matching eigenvectors. NumPy only.
"""

from __future__ import annotations

import numpy as np


def _laplacian_eigs(sim: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(sim)
    aff = np.zeros_like(sim)
    top = np.argpartition(-sim, p, axis=1)[:, :p]
    aff[np.arange(n)[:, None], top] = 1.0
    aff = (aff + aff.T) / 2
    np.fill_diagonal(aff, 0.0)
    lap = np.diag(aff.sum(axis=1)) - aff
    return np.linalg.eigh(lap)


def estimate(
    sim: np.ndarray, *, min_k: int = 1, max_k: int = 10, fixed_k: int | None = None
) -> tuple[int, np.ndarray]:
    """(number of clusters, spectral embedding rows) for a cosine-similarity matrix."""
    n = len(sim)
    max_k = max(1, min(max_k, n - 1))
    min_k = min(min_k, max_k)
    best = None
    step = max(1, n // 40)
    for p in range(max(2, n // 50), max(3, n // 4) + 1, step):
        if p >= n:
            break
        vals, vecs = _laplacian_eigs(sim, p)
        gaps = np.diff(vals[: max_k + 1])
        if fixed_k:
            k = fixed_k
        else:
            lo = min_k - 1
            k = lo + int(np.argmax(gaps[lo:max_k])) + 1
        g = gaps[k - 1] / (vals[-1] + 1e-10)
        ratio = (p / n) / (g + 1e-10)
        if best is None or ratio < best[0]:
            best = (ratio, k, vecs[:, :k])
    if best is None:
        return (fixed_k or 1), np.ones((n, 1))
    return best[1], best[2]


def kmeans(x: np.ndarray, k: int, *, iters: int = 50, seed: int = 0) -> np.ndarray:
    """Deterministic k-means (k-means++ start) returning labels."""
    n = len(x)
    if k <= 1 or n <= k:
        return np.zeros(n, dtype=int) if k <= 1 else np.arange(n)
    rng = np.random.default_rng(seed)
    centres = [x[0]]
    for _ in range(1, k):
        d = np.min([((x - c) ** 2).sum(axis=1) for c in centres], axis=0)
        centres.append(x[rng.choice(n, p=d / d.sum())] if d.sum() > 0 else x[rng.integers(n)])
    centres = np.stack(centres)
    labels = np.zeros(n, dtype=int)
    for _ in range(iters):
        new = ((x[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        centres = np.stack(
            [x[labels == j].mean(axis=0) if (labels == j).any() else centres[j] for j in range(k)]
        )
    return labels


def cluster(
    sim: np.ndarray, *, min_k: int = 1, max_k: int = 10, fixed_k: int | None = None
) -> np.ndarray:
    if len(sim) <= 2:
        return np.zeros(len(sim), dtype=int)
    k, vecs = estimate(sim, min_k=min_k, max_k=max_k, fixed_k=fixed_k)
    return kmeans(vecs, k)
