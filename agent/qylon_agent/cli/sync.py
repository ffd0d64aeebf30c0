"""`qylon sync`: push every changed or deleted meeting to the team server, pull its client list."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output

app = typer.Typer()


def _pending_table(c, rows: list[dict]) -> None:
    if not rows:
        c.print("Nothing to push: the server has every change.")
        return
    c.print(f"{len(rows)} meeting(s) to push:")
    for r in rows:
        note = f"  [yellow](last error: {r['last_error']})[/]" if r.get("last_error") else ""
        if r["op"] == "delete":
            c.print(f"  {r['id'][:8]}  [red]delete[/] (deleted here)" + note)
            continue
        c.print(
            f"  {r['id'][:8]}  {r['created_at'][:16]}  {r['title']}"
            + (f"  \\[{r['client']}]" if r["client"] else "")
            + note
        )


def _report(c, data: dict) -> None:
    from rich.markup import escape

    c.print(
        f"Pushed {data['pushed']} meeting(s); {data['unchanged']} already on the server; "
        f"{data['deleted']} deleted there; {data['pending']} left."
    )
    for f in data["failed"]:
        c.print(f"[red]Refused[/] {f['id'][:8]} {f['title'] or ''}: {f['error']}", markup=True)
    for f in data["stale"]:
        c.print(f"[yellow]Not sent[/] {f['id'][:8]} {f['title']}: {f['error']}", markup=True)
    for f in data["unlinked"]:
        c.print(
            f"[yellow]Warning:[/] {f['id'][:8]} {escape(f['title'] or '')} is filed under "
            f"{escape(repr(f['client']))}, a client the server does not know: it is stored there "
            "without a client. Add the client (`qylon clients add NAME` links its meetings) or "
            "correct the meeting (`qylon meeting edit ID --client NAME`, then `qylon sync`)."
        )
    if data["clients"] is not None:
        c.print(f"Client list updated: {data['clients']} client(s).")


@app.callback(invoke_without_command=True)
def sync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be pushed; contact no server.")
    ] = False,
    no_pull: Annotated[
        bool, typer.Option("--no-pull", help="Do not refresh the local client list.")
    ] = False,
    json: output.JsonOption = False,
) -> None:
    """Push every meeting changed since the last sync (new, edited, renamed speakers,
    items done, re-analysed) and every deletion to the team server (idempotent,
    resumable), and pull the client list so `--client` completes offline.

    Example: qylon sync --json
    """
    from ..store.database import Store
    from ..sync.outbox import Outbox
    from ..sync.outbox import sync as run_sync

    store = Store()
    if dry_run:
        rows = Outbox(store).pending()
        output.emit({"dry_run": True, "pending": rows}, lambda c: _pending_table(c, rows))
        return
    from qylon_cli import settings
    from qylon_cli.client import ApiClient

    retries = int(settings.load().get("sync.retries", 6))
    with ApiClient.from_credentials(retries=retries, backoff=0.25, max_wait=4.0) as api:
        report = run_sync(
            store,
            api,
            pull=not no_pull,
            on_meeting=lambda row: (
                output.info(f"pushed {row['id'][:8]} {row['title']}")
                if not output.json_mode()
                else None
            ),
        )
    data = report.to_dict()
    output.emit(data, lambda c: _report(c, data))
    if report.failed or report.stale:
        raise typer.Exit(1)
