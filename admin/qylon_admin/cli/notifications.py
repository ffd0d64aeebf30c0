"""`qylon notifications show|set`: your own email notifications from the team server (the
daily digest of your open and overdue action items, docs/notifications.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.client import ApiClient

app = typer.Typer(
    help="Your email notifications: a daily digest of your open and overdue action items.\n\n"
    "Example: qylon notifications set --digest daily --hour 8",
    no_args_is_help=True,
)


def _said(item: dict) -> str:
    if item["digest"] == "off":
        return "Daily digest: off."
    return f"Daily digest: at {item['digest_hour']:02d}:00 ({item['time_zone']})."


@app.command("show")
def show_cmd(json: output.JsonOption = False) -> None:
    """Show your notification settings.

    Example: qylon notifications show --json
    """
    with ApiClient.from_credentials() as api:
        item = api.get("/v1/me/notifications")
    output.emit(item, lambda c: c.print(_said(item), markup=False))


@app.command("set")
def set_cmd(
    digest: Annotated[
        str | None,
        typer.Option(help="daily: email your open and overdue action items each day; off: stop."),
    ] = None,
    hour: Annotated[
        int | None,
        typer.Option(min=0, max=23, help="The hour (0-23, your time zone) the digest is sent at."),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Turn the daily digest on or off, or change its hour.

    Example: qylon notifications set --digest daily --hour 8
    """
    from qylon_cli.errors import UsageError

    if digest is not None and digest not in ("off", "daily"):
        raise UsageError("--digest is daily or off.", hint="qylon notifications set --digest daily")
    body = {k: v for k, v in (("digest", digest), ("digest_hour", hour)) if v is not None}
    if not body:
        raise UsageError("Nothing to set.", hint="qylon notifications set --digest daily --hour 8")
    with ApiClient.from_credentials() as api:
        item = api.put("/v1/me/notifications", body)
    output.emit(item, lambda c: c.print(_said(item), markup=False))
