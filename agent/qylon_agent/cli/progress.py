"""Progress on stderr that follows the audio position: a Rich bar on a terminal, plain
lines without one (``qylon_cli.progress``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def audio_progress(description: str) -> Iterator[Callable[[float, float], None]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from qylon_cli import progress as host_progress

    from ..store.formats import short_clock

    if not host_progress.on_terminal():
        lines = host_progress.PlainLines(description)
        yield lambda position, total: lines.update(
            position, total, f"{short_clock(position)}/{short_clock(total)}"
        )
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[position]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task(description, total=None, position="")

    def update(position: float, total: float) -> None:
        progress.update(
            task,
            completed=position,
            total=total,
            position=f"{short_clock(position)}/{short_clock(total)}",
        )

    with progress:
        yield update


class _Bytes:
    """One bar (or one series of plain lines) per file: ``start(label)``, then ``update``."""

    def __init__(self, progress) -> None:
        self.progress, self.task, self.lines = progress, None, None

    def start(self, label: str) -> None:
        from qylon_cli import progress as host_progress

        if self.progress is None:
            sys.stderr.write(label + "\n")
            self.lines = host_progress.PlainLines(label.split(" ", 1)[-1])
            return
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.task = self.progress.add_task(label, total=None)

    def update(self, done: int, total: int) -> None:
        if self.progress is None:
            if self.lines:
                self.lines.update(done, total, f"{done / 1e6:.0f}/{total / 1e6:.0f} MB")
        elif self.task is not None:
            self.progress.update(self.task, completed=done, total=total or None)


@contextmanager
def bytes_progress() -> Iterator[_Bytes]:
    """Progress of downloads on stderr: size, speed and time left on a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from qylon_cli import progress as host_progress

    if not host_progress.on_terminal():
        yield _Bytes(None)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with progress:
        yield _Bytes(progress)
