"""What `meeting record` shows on stderr while it records, and the pause/stop keys.

In a terminal: a Rich live panel (elapsed time, a level meter per channel, warnings,
the live transcript). Elsewhere (a pipe, a log file, CI): one plain line per event
and a status line every 30 s.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

from rich.console import Console, Group
from rich.markup import escape
from rich.text import Text

from ..store.formats import short_clock

BAR = 30


def _bar(db: float) -> str:
    filled = int(max(0.0, min(1.0, (db + 60) / 60)) * BAR)
    return "█" * filled + "·" * (BAR - filled)


class LiveView:
    def __init__(self, title: str, *, plain: bool | None = None):
        self.console = Console(stderr=True, highlight=False)
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.title = title
        self.recorder = None
        self.events: list[str] = []
        self.transcript: list[str] = []
        self._live = None
        self._last_plain = time.monotonic()

    def event(self, kind: str, message: str) -> None:
        style = {"warning": "yellow", "paused": "cyan", "resumed": "green"}.get(kind, "dim")
        if kind == "live":
            self.transcript = (self.transcript + [message])[-6:]
        else:
            self.events = (self.events + [f"[{style}]{escape(message)}[/]"])[-4:]
        if self.plain or self._live is None:
            prefix = "Warning: " if kind == "warning" else ""
            self.console.print(
                f"[{style}]{prefix}{escape(message)}[/]" if kind != "live" else escape(message)
            )
        else:
            self._live.update(self.render())

    def render(self):
        st = self.recorder.status
        head = Text.from_markup(
            ("[bold cyan]⏸ PAUSED[/]" if st.paused else "[bold red]● REC[/]")
            + f"  {short_clock(st.recorded_s)}  [bold]{escape(self.title)}[/]"
        )
        rows = [head]
        for name, db, clip in zip(st.names, st.levels_db, st.clipping):
            colour = "red" if clip else ("green" if db > -40 else "yellow" if db > -60 else "dim")
            rows.append(
                Text.from_markup(
                    f"  [{colour}]{_bar(db)}[/] {db:6.1f} dB  {escape(name)}"
                    + ("  [red]CLIP[/]" if clip else "")
                )
            )
        if st.silent_s >= 10:
            rows.append(Text.from_markup(f"  [yellow]silent for {st.silent_s:.0f} s[/]"))
        rows += [Text.from_markup("  " + e) for e in self.events]
        rows += [Text("  " + line, style="italic") for line in self.transcript]
        rows.append(
            Text.from_markup(
                "  [dim]p or space: pause/resume · q or Ctrl-C: stop and transcribe[/]"
            )
        )
        return Group(*rows)

    def tick(self) -> None:
        if self._live is not None:
            self._live.update(self.render())
        elif self.plain and time.monotonic() - self._last_plain >= 30:
            self._last_plain = time.monotonic()
            st = self.recorder.status
            levels = ", ".join(f"{n} {db:.0f} dB" for n, db in zip(st.names, st.levels_db))
            self.console.print(
                f"[dim]{'paused' if st.paused else 'recording'} {short_clock(st.recorded_s)}: {escape(levels)}[/]"
            )

    @contextmanager
    def running(self, recorder):
        self.recorder = recorder
        if self.plain:
            yield self
            return
        from rich.live import Live

        with Live(
            self.render(), console=self.console, refresh_per_second=8, transient=False
        ) as live:
            self._live = live
            try:
                yield self
            finally:
                live.update(self.render())
                self._live = None


@contextmanager
def keys(recorder, enabled: bool):
    """While recording, p/space pauses or resumes and q stops (only in an interactive terminal)."""
    try:
        import select
        import termios
        import tty
    except ImportError:  # Windows: stop with Ctrl-C
        termios = None
    if not enabled or termios is None or not sys.stdin.isatty():
        yield
        return

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            key = sys.stdin.read(1).lower()
            if key in ("p", " "):
                recorder.toggle_pause()
            elif key == "q":
                recorder.request_stop("key")

    tty.setcbreak(fd)
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
