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
    def __init__(self, rate: str, redis_url: str | None = None, *, failures: str = "120/minute", prefix: str = "qylon"):
        self.limit = parse(rate)
        self.failures = parse(failures)
        if redis_url:
            storage = storage_from_string(redis_url, key_prefix=f"{prefix}-ratelimit")
        else:
            storage = storage_from_string("memory://")
        self.limiter = MovingWindowRateLimiter(storage)
        self.backend = "redis" if redis_url else "memory"

    def check(self, identity: str) -> None:
        """Count a request by an API key (its id); 429 over the limit."""
        self._hit(self.limit, identity, "for this API key")

    def check_failure(self, ip: str) -> None:
        """Count a request with a missing or wrong key from an address; 429 over the limit."""
        self._hit(self.failures, f"auth-failure:{ip}", "for unauthenticated requests from your address")

    def _hit(self, limit, identity: str, what: str) -> None:
        if self.limiter.hit(limit, identity):
            return
        reset, _remaining = self.limiter.get_window_stats(limit, identity)
        retry = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            f"Rate limit of {limit} {what} exceeded.",
            hint=f"Retry after {retry} s.",
            headers={"Retry-After": str(retry)},
        )
