"""Rate limiting (``limits``): per API key, per user (all their keys together) and, for
failed authentication, per address. In process by default, Redis when configured.

With ``QYLON_REDIS_URL`` every server process shares the same counters. When Redis
cannot be reached, each process counts on its own (a logged warning; ``/ready`` shows
it) and tries Redis again after ``RETRY_S`` seconds: a Redis outage never takes the API down.
"""

from __future__ import annotations

import logging
import math
import time

from limits import parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .errors import ApiError

log = logging.getLogger("qylon_server")
RETRY_S = 30.0


class RateLimiter:
    def __init__(
        self,
        rate: str,
        redis_url: str | None = None,
        *,
        failures: str = "120/minute",
        per_user: str | None = None,
        prefix: str = "qylon",
    ):
        self.limit = parse(rate)
        self.failures = parse(failures)
        self.per_user = parse(per_user) if per_user else None
        self.local = MovingWindowRateLimiter(storage_from_string("memory://"))
        self.shared = None
        if redis_url:
            storage = storage_from_string(
                redis_url,
                key_prefix=f"{prefix}-ratelimit",
                wrap_exceptions=True,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            self.shared = MovingWindowRateLimiter(storage)
        self.down_since: float | None = None  # Redis unreachable since (monotonic)

    @property
    def backend(self) -> str:
        if self.shared is None:
            return "memory"
        return "redis" if self.down_since is None else "memory (Redis unavailable)"

    def redis_state(self) -> str | None:
        """ "ok" or "unavailable" (asks Redis now); None without Redis."""
        if self.shared is None:
            return None
        try:
            return "ok" if self.shared.storage.check() else "unavailable"
        except Exception:  # noqa: BLE001 - any failure to answer is "unavailable"
            return "unavailable"

    def check(self, identity: str, user: str | None = None) -> None:
        """Count a request by an API key (its id) and its user; 429 over either limit."""
        self._hit(self.limit, identity, "for this API key")
        if user is not None and self.per_user is not None:
            self._hit(self.per_user, f"user:{user}", "for your user (all your keys together)")

    def check_failure(self, ip: str) -> None:
        """Count a request with a missing or wrong key from an address; 429 over the limit."""
        self._hit(
            self.failures, f"auth-failure:{ip}", "for unauthenticated requests from your address"
        )

    def _limiter(self) -> MovingWindowRateLimiter:
        if self.shared is None:
            return self.local
        if self.down_since is not None and time.monotonic() - self.down_since < RETRY_S:
            return self.local
        return self.shared

    def _call(self, method: str, *args):
        limiter = self._limiter()
        try:
            result = getattr(limiter, method)(*args)
        except StorageError as exc:
            if self.down_since is None:
                log.warning(
                    "Redis unavailable (%s): rate limits are counted per process until it is back.",
                    exc.storage_error,
                )
            self.down_since = time.monotonic()
            return getattr(self.local, method)(*args), self.local
        if limiter is self.shared and self.down_since is not None:
            log.warning("Redis is back: rate limits are shared again.")
            self.down_since = None
        return result, limiter

    def _hit(self, limit, identity: str, what: str) -> None:
        allowed, limiter = self._call("hit", limit, identity)
        if allowed:
            return
        reset, _remaining = limiter.get_window_stats(limit, identity)
        retry = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            f"Rate limit of {limit} {what} exceeded.",
            hint=f"Retry after {retry} s.",
            headers={"Retry-After": str(retry)},
        )
