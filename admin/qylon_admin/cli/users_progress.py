"""A Rich progress bar on stderr for reading and planning a user file (rows/s shown)."""

from __future__ import annotations

import sys
from contextlib import contextmanager


@contextmanager
def file_progress():
    """Yield a ``progress(stage, done, total)`` callback; draws only on a terminal."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from qylon_cli import output

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=output.stderr(),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    tasks: dict[str, int] = {}
    labels = {"check": "Checking rows", "plan": "Planning", "apply": "Applying"}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(labels.get(stage, stage), total=total, rate="")
        task = bar.tasks[tasks[stage]]
        rate = f"{task.speed:,.0f} {'B' if stage == 'check' else 'rows'}/s" if task.speed else ""
        bar.update(tasks[stage], completed=done, total=total, rate=rate)

    with bar:
        yield progress
