"""Progress on stderr: a Rich bar on a terminal, plain lines in logs.

Without a terminal (CI, a service, `2> log`) a long job still says how far it is: one
line each time it passes another tenth of the work, at most one line every
``MIN_INTERVAL`` seconds, and the last one at 100 %.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

MIN_INTERVAL = 5.0
STEP = 10  # percent


class PlainLines:
    """``update(done, total, detail)`` prints "Label: 40% (detail)" lines on a stream."""

    def __init__(
        self,
        label: str,
        *,
        stream=None,
        min_interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.stream = label, stream or sys.stderr
        self.min_interval, self.clock = min_interval, clock
        self.started = clock()
        self.shown_step = -1
        self.shown_at: float | None = None

    def update(self, done: float, total: float | None, detail: str = "") -> None:
        if not total:
            return
        percent = max(0, min(100, int(100 * done / total)))
        step = percent // STEP
        now = self.clock()
        final = percent >= 100
        if step <= self.shown_step and not (final and self.shown_step < 100 // STEP):
            return
        if not final and self.shown_at is not None and now - self.shown_at < self.min_interval:
            return
        self.shown_step, self.shown_at = step, now
        elapsed = _clock(now - self.started)
        extra = f" ({detail})" if detail else ""
        self.stream.write(f"{self.label}: {percent}%{extra}, {elapsed} elapsed\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def on_terminal() -> bool:
    """Whether stderr is a terminal that can draw a bar."""
    from rich.console import Console

    return Console(stderr=True).is_terminal
