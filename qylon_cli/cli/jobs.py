"""`qylon jobs ...`: recordings queued on the team server for its transcription workers
(`qylon agent worker`, docs/workers.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import output, paging
from ..client import ApiClient

app = typer.Typer(
    no_args_is_help=True,
)
BASE = "/v1/transcription-jobs"
ENDED = ("completed", "failed", "cancelled")
JobArg = Annotated[str, typer.Argument(metavar="JOB", help="A job's id.", show_default=False)]


def _table(c, items: list[dict], total: int | None = None) -> None:
    from rich.table import Table

    if not items:
        c.print("No transcription jobs.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Job", "File", "Status", "Worker", "Tries", "Submitted", "Meeting / error"):
        table.add_column(col)
    for i in items:
        last = i["meeting_id"] if i["status"] == "completed" else i.get("error") or ""
        table.add_row(
            i["id"],
            i["filename"],
            i["status"],
            i.get("worker") or "",
            str(i["attempts"]),
            i["created_at"][:19],
            last,
        )
    c.print(table)
    if total is not None and total > len(items):
        c.print(f"[dim]{len(items)} of {total}; use --limit/--offset for more.[/]")


def _show(c, job: dict) -> None:
    from rich.markup import escape

    c.print(f"[bold]{escape(job['filename'])}[/]  {job['id']}: {job['status']}")
    for label, key in (
        ("Title", "title"),
        ("Client", "client"),
        ("Meeting", "meeting_id"),
        ("Worker", "worker"),
        ("Submitted", "created_at"),
        ("Started", "started_at"),
        ("Lease until", "lease_expires_at"),
        ("Finished", "finished_at"),
        ("Error", "error"),
    ):
        if job.get(key):
            c.print(f"{label}: {escape(str(job[key]))}")
    c.print(f"Taken {job['attempts']} time(s); {job['size_bytes']:,} bytes.")


def _wait(api, jobs: list[dict], timeout: float) -> list[dict]:
    import time

    from ..errors import Unavailable

    deadline = time.monotonic() + timeout
    while any(j["status"] not in ENDED for j in jobs):
        if time.monotonic() > deadline:
            raise Unavailable(
                f"Not every job ended within {timeout:g} s.",
                code="timeout",
                hint="`qylon jobs list` follows them; is a worker running (`qylon agent worker`)?",
            )
        time.sleep(1.0)
        jobs = [j if j["status"] in ENDED else api.get(f"{BASE}/{j['id']}") for j in jobs]
    return jobs


@app.command()
def submit(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE", help="Recordings (any format the agent reads).", show_default=False
        ),
    ],
    title: Annotated[str | None, typer.Option(help="The meeting's title (one file only).")] = None,
    client: Annotated[str | None, typer.Option(help="The client the meetings were with.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until every job has ended (completed or not).")
    ] = False,
    timeout: Annotated[float, typer.Option(min=1, help="With --wait: give up after this.")] = 3600,
    json: output.JsonOption = False,
) -> None:
    """Queue recordings on the team server for its transcription workers.

    Each upload carries an Idempotency-Key made from the file's content and name, so
    submitting the same file again (a retry, a script run twice) returns the job it made
    and queues nothing. Each job becomes one meeting on the server when a worker has
    transcribed it.

    Example: qylon jobs submit recordings/*.m4a --client Acme --wait
    """
    import hashlib

    from ..errors import InvalidInput, UsageError

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"No such file: {', '.join(missing)}.")
    if title and len(files) > 1:
        raise UsageError("--title names one meeting: give one file with it.")
    made = []
    with ApiClient.from_credentials() as api:
        for path in files:
            content = path.read_bytes()
            if not content:
                raise InvalidInput(f"{path}: the file is empty; nothing was queued for it.")
            digest = hashlib.sha256(content + path.name.encode()).hexdigest()
            made.append(
                api.request(
                    "POST",
                    BASE,
                    content=content,
                    params={"filename": path.name, "title": title, "client": client},
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Idempotency-Key": f"qylon-{digest[:48]}",
                    },
                    idempotent=True,
                )
            )
            output.info(f"Queued {path.name} as job {made[-1]['id']}.")
        if wait:
            made = _wait(api, made, timeout)
    output.emit_list(made, lambda c, items: _table(c, items))


@app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(help="queued, running, completed, failed or cancelled."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many.")] = 0,
    paginate: paging.PaginateOption = False,
    json: output.JsonOption = False,
) -> None:
    """List the team's transcription jobs, newest first.

    Example: qylon jobs list --status running --json
    """
    with ApiClient.from_credentials() as api:
        page = paging.fetch(api, BASE, paginate=paginate, limit=limit, offset=offset, status=status)
    paging.emit(page, _table)


@app.command()
def show(job: JobArg, json: output.JsonOption = False) -> None:
    """Show one job: its status, worker, lease, meeting or error.

    Example: qylon jobs show 3f0c...
    """
    with ApiClient.from_credentials() as api:
        item = api.get(f"{BASE}/{job}")
    output.emit(item, lambda c: _show(c, item))


@app.command()
def cancel(job: JobArg, json: output.JsonOption = False) -> None:
    """Cancel a queued or running job (its worker stops at its next renewal). Its
    submitter or an admin may.

    Example: qylon jobs cancel 3f0c...
    """
    with ApiClient.from_credentials() as api:
        item = api.post(f"{BASE}/{job}/cancel", {})
    output.emit(item, lambda c: c.print(f"Cancelled job {item['id']} ({item['filename']})."))
