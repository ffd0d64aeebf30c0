"""Rate limiting per API key (``limits``): in process by default, Redis when configured.

With ``QYLON_REDIS_URL`` every server process shares the same counters.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .errors import ApiError


class RateLimiter:
    def __init__(self, rate: str, redis_url: str | None = None, *, prefix: str = "qylon"):
        self.limit = parse(rate)
        if redis_url:
            storage = storage_from_string(redis_url, key_prefix=f"{prefix}-ratelimit")
        else:
            storage = storage_from_string("memory://")
        self.limiter = MovingWindowRateLimiter(storage)
        self.backend = "redis" if redis_url else "memory"

    def check(self, identity: str) -> None:
        if self.limiter.hit(self.limit, identity):
            return
        reset, _remaining = self.limiter.get_window_stats(self.limit, identity)
        retry = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            f"Rate limit of {self.limit} for this API key exceeded.",
            hint=f"Retry after {retry} s.",
            headers={"Retry-After": str(retry)},
        )
