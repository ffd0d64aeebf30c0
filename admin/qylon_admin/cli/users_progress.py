"""Progress on stderr for reading, planning and applying a user file: a Rich bar (rows/s
shown) on a terminal, plain lines without one (``qylon_cli.progress``)."""

from __future__ import annotations

from contextlib import contextmanager

LABELS = {"check": "Checking rows", "plan": "Planning", "apply": "Applying"}


@contextmanager
def file_progress():
    """Yield a ``progress(stage, done, total)`` callback."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from qylon_cli import output
    from qylon_cli import progress as host_progress

    if not host_progress.on_terminal():
        stages: dict[str, host_progress.PlainLines] = {}

        def plain(stage: str, done: int, total: int) -> None:
            if stage not in stages:
                stages[stage] = host_progress.PlainLines(LABELS.get(stage, stage))
            unit = "bytes" if stage == "check" else "rows"
            stages[stage].update(done, total, f"{done:,}/{total:,} {unit}")

        yield plain
        return

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=output.stderr(),
        transient=True,
    )
    tasks: dict[str, int] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(LABELS.get(stage, stage), total=total, rate="")
        task = bar.tasks[tasks[stage]]
        rate = f"{task.speed:,.0f} {'B' if stage == 'check' else 'rows'}/s" if task.speed else ""
        bar.update(tasks[stage], completed=done, total=total, rate=rate)

    with bar:
        yield progress
