"""`qylon events tail`: the team server's domain events (``GET /v1/events``), newest last,
optionally followed as they are appended."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import output

app = typer.Typer(
    no_args_is_help=True,
)


def describe(event: dict) -> str:
    """A short account of an event's data: a step and its status, an email, a name."""
    data = event.get("data") or {}
    parts = []
    for key in ("step", "status", "email", "name", "from", "to"):
        if data.get(key) is not None:
            parts.append(f"{key}={data[key]}")
    record = data.get("record") or {}
    if record.get("status"):
        parts.append(f"→ {record['status']}")
    error = record.get("error") or data.get("error")
    if error:
        parts.append(f"error: {error.get('message') if isinstance(error, dict) else error}")
    return " ".join(str(p) for p in parts)


def table(c, items: list[dict], *, stream: bool = True) -> None:
    from rich.table import Table
    from rich.text import Text

    if not items:
        c.print("No events.")
        return
    t = Table(box=None, header_style="bold")
    for col in ("Pos", "Time (UTC)", "Type", *(["Stream"] if stream else []), "Ver", "Detail"):
        t.add_column(col)
    for e in items:
        at = e["time"][:19].replace("T", " ")
        cells = [str(e["position"]), at, e["type"], *([e["stream"]] if stream else [])]
        t.add_row(*(Text(v) for v in (*cells, str(e["version"]), describe(e))))
    c.print(t)


@app.command()
def tail(
    stream: Annotated[
        str | None, typer.Option(help="Only this stream, e.g. user:<id>, workflow_run:<run>.")
    ] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only this type, e.g. user.deactivated (repeatable)."),
    ] = None,
    correlation_id: Annotated[
        str | None, typer.Option(help="Only events of this request or workflow run.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show the newest this many.")] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events (Ctrl-C stops).")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, max=60, help="Seconds between polls with --follow.")
    ] = 1.0,
    json: output.JsonOption = False,
) -> None:
    """Show the newest events (needs an admin's key; a run's own stream needs only
    workflows:read). With --follow, new events follow as they are appended; with --json
    each is then one line `{"data": EVENT}` (JSON Lines).

    Example: qylon events tail --correlation-id run-4f1c0d2e-... --json
    """
    from ..client import ApiClient

    filters = {"stream": stream, "type": type_ or None, "correlation_id": correlation_id}
    with ApiClient.from_credentials() as api:
        page = api.get("/v1/events", limit=limit, last=True, **filters)
        if not follow:
            output.emit_list(page["items"], lambda c, items: table(c, items), limit=limit)
            return
        _follow(api, page, filters, interval)


def _follow(api, page: dict, filters: dict, interval: float) -> None:
    import time

    def show(items: list[dict]) -> None:
        if output.json_mode():
            for item in items:
                _line(item)
        elif items:
            table(output.stdout(), items)

    show(page["items"])
    after = page["next"]
    while True:
        time.sleep(interval)
        page = api.get("/v1/events", after=after, limit=1000, **filters)
        show(page["items"])
        after = page["next"]


def _line(event: dict) -> None:
    """One event as one line of JSON (--follow --json), or what --jq makes of it."""
    import json
    import sys

    if output.jq_active():
        output.emit(event)
        return
    sys.stdout.write(json.dumps({"data": event}, ensure_ascii=False) + "\n")
    sys.stdout.flush()
