"""Agglomerative clustering of speaker embeddings (average linkage on cosine similarity).

Start with every window its own cluster and repeatedly merge the two clusters
whose windows are most alike on average, until no pair is alike enough
(``threshold``) or the wanted number of clusters is reached. The threshold is
calibrated on real speech (docs/speakers.md), so the number of speakers comes
from the audio. Lance-Williams updates keep each merge O(n); NumPy only.
"""

from __future__ import annotations

import numpy as np


def cluster(
    emb: np.ndarray,
    threshold: float,
    *,
    min_k: int = 1,
    max_k: int = 10,
    fixed_k: int | None = None,
) -> np.ndarray:
    """Labels 0..k-1 for unit embeddings ``emb`` (rows)."""
    n = len(emb)
    if n <= 1:
        return np.zeros(n, dtype=int)
    sim = (emb @ emb.T).astype(np.float64)
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(n)
    owner = np.arange(n)
    k = n
    floor = max(1, fixed_k or min_k)
    while k > floor:
        i, j = divmod(int(np.argmax(sim)), n)
        if fixed_k is None and sim[i, j] < threshold and k <= max_k:
            break
        row = (sim[i] * size[i] + sim[j] * size[j]) / (size[i] + size[j])
        sim[i, :] = row
        sim[:, i] = row
        sim[i, i] = -np.inf
        sim[j, :] = -np.inf
        sim[:, j] = -np.inf
        size[i] += size[j]
        owner[owner == j] = i
        k -= 1
    return np.unique(owner, return_inverse=True)[1]
