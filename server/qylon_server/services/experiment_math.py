"""The arithmetic of A/B tests, in pure Python (no state, no database): which variant a
person gets, and how two variants' conversion rates compare.

Assignment: ``sha256("EXPERIMENT_ID:USER_ID")``'s first 8 bytes, read as a big-endian
integer and divided by 2**64, give a point in [0, 1) that depends on nothing else; the
variants' weights, normalised to sum to 1, cut [0, 1) into consecutive intervals in
their order, and the interval holding the point is the person's variant. The same
experiment and person give the same variant in any process, on any machine, forever.

Comparison: a two-proportion z-test (pooled standard error) for the p-value, and a Wald
interval (unpooled standard error) for the difference of the rates, both from the
normal distribution (``statistics.NormalDist``); tests check them against scipy.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from statistics import NormalDist


def point(experiment_id: str, user_id: str) -> float:
    """The person's point in [0, 1) for this experiment."""
    digest = hashlib.sha256(f"{experiment_id}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def variant_for(experiment_id: str, user_id: str, variants: Sequence[dict]) -> str:
    """The name of the variant (``[{"name", "weight"}, ...]``) this person gets."""
    total = float(sum(v["weight"] for v in variants))
    at = point(experiment_id, user_id) * total
    edge = 0.0
    for variant in variants:
        edge += variant["weight"]
        if at < edge:
            return variant["name"]
    return variants[-1]["name"]  # rounding at the very top of the interval


def two_proportions(
    control: tuple[int, int], other: tuple[int, int], *, confidence: float = 0.95
) -> dict:
    """Compare ``other`` = (conversions, exposures) with ``control``: the difference of
    rates, the lift (relative to the control's rate; None when that is 0), the z-test's
    statistic and two-sided p-value, and the ``confidence`` interval of the difference.
    Values are None where a group has no exposures."""
    (x1, n1), (x2, n2) = control, other
    out: dict = {"difference": None, "lift": None, "z": None, "p_value": None, "ci": None}
    if n1 <= 0 or n2 <= 0:
        return out
    p1, p2 = x1 / n1, x2 / n2
    diff = p2 - p1
    out["difference"] = diff
    out["lift"] = diff / p1 if p1 > 0 else None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    normal = NormalDist()
    if se > 0:
        out["z"] = diff / se
        out["p_value"] = min(1.0, 2 * normal.cdf(-abs(out["z"])))
    else:  # every person converted, or none did, in both: no evidence of a difference
        out["z"], out["p_value"] = 0.0, 1.0
    spread = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    critical = normal.inv_cdf(0.5 + confidence / 2)
    out["ci"] = [diff - critical * spread, diff + critical * spread]
    return out
