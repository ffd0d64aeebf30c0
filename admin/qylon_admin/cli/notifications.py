"""`qylon notifications show|set`: your own email notifications from the team server (the
daily digest of your open and overdue action items, docs/notifications.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.client import ApiClient

app = typer.Typer(
    no_args_is_help=True,
)


EVENTS = "meeting.stored, compliance.item_assigned, compliance.item_escalated"


def _said(item: dict) -> str:
    if item["digest"] == "off":
        said = "Daily digest: off."
    else:
        said = f"Daily digest: at {item['digest_hour']:02d}:00 ({item['time_zone']})."
    events = ", ".join(item.get("events") or []) or "none"
    source = "yours" if item.get("events_from") == "own" else "the organisation's defaults"
    return f"{said}\nEmails about: {events} ({source})."


def _types(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip() and t.strip() != "none"]


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
    events: Annotated[
        str | None,
        typer.Option(
            help=f"Event types that email you when about you (comma-separated, or none): {EVENTS}."
        ),
    ] = None,
    events_default: Annotated[
        bool, typer.Option("--events-default", help="Follow the organisation's defaults again.")
    ] = False,
    json: output.JsonOption = False,
) -> None:
    """Turn the daily digest on or off, change its hour, or choose the events that email you.

    Example: qylon notifications set --digest daily --hour 8

    Example: qylon notifications set --events meeting.stored,compliance.item_assigned
    """
    from qylon_cli.errors import UsageError

    if digest is not None and digest not in ("off", "daily"):
        raise UsageError("--digest is daily or off.", hint="qylon notifications set --digest daily")
    body = {k: v for k, v in (("digest", digest), ("digest_hour", hour)) if v is not None}
    if events is not None:
        body["events"] = _types(events)
    if events_default:
        body["events_default"] = True
    if not body:
        raise UsageError("Nothing to set.", hint="qylon notifications set --digest daily --hour 8")
    with ApiClient.from_credentials() as api:
        item = api.put("/v1/me/notifications", body)
    output.emit(item, lambda c: c.print(_said(item), markup=False))


@app.command("defaults")
def defaults_cmd(
    events: Annotated[
        str | None,
        typer.Option("--set", help=f"The event types (comma-separated, or none): {EVENTS}."),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Show or set (an admin) the organisation's per-event emails for people who chose none.

    Example: qylon notifications defaults --set meeting.stored,compliance.item_escalated
    """
    with ApiClient.from_credentials() as api:
        if events is None:
            item = api.get("/v1/notifications/defaults")
        else:
            item = api.put("/v1/notifications/defaults", {"events": _types(events)})
    said = ", ".join(item["events"]) or "none"
    output.emit(item, lambda c: c.print(f"Organisation defaults: {said}.", markup=False))
