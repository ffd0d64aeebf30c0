"""`qylon meeting calendar`: the event on now and the next one, from the calendar that
``calendar.provider`` names (the work is in ``qylon_agent.calendar``)."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output


def calendar(
    refresh: Annotated[
        bool,
        typer.Option("--refresh", help="Ask the calendar now, even if the local copy is recent."),
    ] = False,
    json: output.JsonOption = False,
) -> None:
    """Show the calendar's current and next events: title, time, attendees, video link and
    the client (by the attendees' email domains: calendar.client_domains, then the client list).

    The calendar is calendar.provider (msgraph for Outlook, google for Google Calendar),
    connected with `qylon integrations connect NAME`. Offline, the last copy is shown, with
    a warning saying how old it is.

    Example: qylon config set calendar.provider msgraph && qylon meeting calendar --json
    """
    from datetime import UTC, datetime

    from qylon_cli import settings as settings_mod

    from .. import calendar as cal
    from ..store.database import Store

    settings = settings_mod.load()
    store = Store()
    now = datetime.now(UTC)
    found = cal.window(store, settings, now=now, refresh=refresh)
    for message in found.warnings:
        output.warn(message)
    data = {
        "provider": found.provider,
        "source": found.source,
        "fetched_at": found.fetched_at,
        "current": cal.described(store, settings, found.current(now)),
        "next": cal.described(store, settings, found.next(now)),
    }

    def human(console) -> None:
        for label, event in (("Now", data["current"]), ("Next", data["next"])):
            if event is None:
                console.print(f"[bold]{label}:[/bold] nothing")
                continue
            start = datetime.fromisoformat(event["start"]).astimezone()
            end = datetime.fromisoformat(event["end"]).astimezone()
            console.print(
                f"[bold]{label}:[/bold] {event['title']}  {start:%a %d %b %H:%M}-{end:%H:%M}"
                + (f"  client: {event['client']}" if event["client"] else "")
            )
            people = ", ".join(p["name"] for p in event["attendees"])
            if people:
                console.print(f"  attendees: {people}")
            if event["meeting_url"]:
                console.print(f"  video: {event['meeting_url']}", soft_wrap=True)

    output.emit(data, human)


def register(app: typer.Typer) -> None:
    app.command()(calendar)
