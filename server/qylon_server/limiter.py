"""Rate limiting (``limits``): per API key, per user (all their keys together) and, for
failed authentication, per address. In process by default, Redis when configured.

With ``QYLON_REDIS_URL`` every server process shares the same counters. When Redis
cannot be reached, each process counts on its own (a logged warning; ``/ready`` shows
it) and tries Redis again after ``RETRY_S`` seconds: a Redis outage never takes the API down.

In process the counting is ours (``MovingWindows``), not ``limits``' memory storage: that
one starts a timer thread every 10 ms to expire entries and keeps each key's hits in a
list it inserts at the front of, which under load cost more than the request's query.
The rule is the same moving window: a hit is allowed while fewer than N hits of that key
fell in the last window.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque

from limits import parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .errors import ApiError

log = logging.getLogger("qylon_server")
RETRY_S = 30.0


class MovingWindows:
    """In-process moving windows: for each (limit, key), the times of its hits within the
    last window, oldest first. Keys with no hit left in their window are dropped at most
    once per ``sweep_s`` seconds, so idle keys (addresses that failed once) do not pile up."""

    def __init__(self, *, sweep_s: float = 60.0):
        self._hits: dict[tuple[str, str], tuple[deque, float]] = {}
        self._lock = threading.Lock()
        self._sweep_s, self._swept = sweep_s, time.monotonic()

    def hit(self, limit, key: str) -> float | None:
        """Count a hit of ``key`` under ``limit``: None when allowed, else the seconds
        until the oldest hit in the window leaves it (nothing is counted then)."""
        window, at = limit.get_expiry(), time.monotonic()
        with self._lock:
            if at - self._swept >= self._sweep_s:
                self._sweep(at)
            found = self._hits.get((str(limit), key))
            if found is None:
                found = self._hits[(str(limit), key)] = (deque(), window)
            hits = found[0]
            while hits and hits[0] <= at - window:
                hits.popleft()
            if len(hits) >= limit.amount:
                return hits[0] + window - at
            hits.append(at)
            return None

    def _sweep(self, at: float) -> None:
        self._swept = at
        for name, (hits, window) in list(self._hits.items()):
            if not hits or hits[-1] <= at - window:
                del self._hits[name]


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
        self.local = MovingWindows()
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

    def _use_shared(self) -> bool:
        if self.shared is None:
            return False
        return self.down_since is None or time.monotonic() - self.down_since >= RETRY_S

    def _wait_s(self, limit, identity: str) -> float | None:
        """None when the hit is allowed, else the seconds until it would be."""
        if self._use_shared():
            try:
                if self.shared.hit(limit, identity):
                    if self.down_since is not None:
                        log.warning("Redis is back: rate limits are shared again.")
                        self.down_since = None
                    return None
                reset, _remaining = self.shared.get_window_stats(limit, identity)
                return reset - time.time()
            except StorageError as exc:
                if self.down_since is None:
                    log.warning(
                        "Redis unavailable (%s): rate limits are counted per process until it is back.",
                        exc.storage_error,
                    )
                self.down_since = time.monotonic()
        return self.local.hit(limit, identity)

    def _hit(self, limit, identity: str, what: str) -> None:
        wait = self._wait_s(limit, identity)
        if wait is None:
            return
        retry = max(1, math.ceil(wait))
        raise ApiError(
            429,
            f"Rate limit of {limit} {what} exceeded.",
            hint=f"Retry after {retry} s.",
            headers={"Retry-After": str(retry)},
        )
