"""Progress on stderr that follows the audio position: a Rich bar on a terminal, plain
lines without one (``qylon_cli.progress``)."""

from __future__ import annotations

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
