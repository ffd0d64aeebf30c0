"""The calendar: which event is on now and which is next, with its attendees, its video link
and the client it is with (``qylon meeting calendar``, ``meeting record``, the agent's
``auto_record = "calendar"``).

The events come from the calendar provider named by ``calendar.provider`` (a plugin:
``msgraph`` for Outlook, ``google`` for Google Calendar; ``qylon_cli.providers.CalendarProvider``)
and are kept in the store (``calendar_events``, migration ``0013_calendar``): a copy younger
than ``calendar.refresh_s`` is used as it is, and when the provider cannot be reached the
copy is used however old it is, with a warning. An event's client is found by its
attendees' email domains: first the rules of ``calendar.client_domains``
(``"acme.example=Acme, ..."``), then the domains of the client list `qylon sync` pulled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from qylon_cli.errors import Unavailable, UsageError
from qylon_cli.providers import Event

from .store.database import Store

BACK = timedelta(hours=12)  # events that began this long ago may still be on


@dataclass
class Window:
    """The events around now, and where they came from."""

    provider: str
    events: list[Event]
    source: str  # "calendar" (asked just now), "cache" (fresh enough) or "offline"
    fetched_at: str | None
    warnings: list[str] = field(default_factory=list)

    def current(self, now: datetime) -> Event | None:
        """The event on at ``now`` (one with a video link first, then the latest begun)."""
        on = [e for e in self.events if e.start <= now < e.end]
        on.sort(key=lambda e: (e.meeting_url is not None, e.start), reverse=True)
        return on[0] if on else None

    def next(self, now: datetime) -> Event | None:
        later = sorted((e for e in self.events if e.start > now), key=lambda e: e.start)
        return later[0] if later else None


def provider_name(settings) -> str | None:
    return str(settings.get("calendar.provider", "") or "").strip() or None


def _provider(name: str):
    from qylon_cli import plugins

    return plugins.require("calendar", name, f"calendar.provider = {name!r}")


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def _save(store: Store, name: str, events: list[Event], start: datetime, end: datetime) -> str:
    fetched = _stamp(datetime.now(UTC))
    with store.db.atomic():
        store.db.execute("DELETE FROM calendar_events WHERE provider = ?", [name])
        store.db["calendar_events"].insert_all(
            {
                "provider": name,
                "id": e.id,
                "title": e.title,
                "start": _stamp(e.start),
                "end": _stamp(e.end),
                "attendees": json.dumps([p.model_dump() for p in e.attendees]),
                "meeting_url": e.meeting_url,
                "fetched_at": fetched,
            }
            for e in events
        )
        store.db["calendar_fetches"].upsert(
            {
                "provider": name,
                "window_start": _stamp(start),
                "window_end": _stamp(end),
                "fetched_at": fetched,
            },
            pk="provider",
        )
    return fetched


def _cached(store: Store, name: str) -> tuple[list[Event], dict | None]:
    fetch = store.db.execute(
        "SELECT window_start, window_end, fetched_at FROM calendar_fetches WHERE provider = ?",
        [name],
    ).fetchone()
    rows = store.db.execute(
        "SELECT id, title, start, end, attendees, meeting_url FROM calendar_events "
        "WHERE provider = ? ORDER BY start",
        [name],
    ).fetchall()
    events = [
        Event(
            id=r[0],
            title=r[1],
            start=datetime.fromisoformat(r[2]),
            end=datetime.fromisoformat(r[3]),
            attendees=json.loads(r[4] or "[]"),
            meeting_url=r[5],
        )
        for r in rows
    ]
    info = dict(zip(("window_start", "window_end", "fetched_at"), fetch)) if fetch else None
    return events, info


def window(
    store: Store,
    settings,
    *,
    now: datetime | None = None,
    refresh: bool = False,
) -> Window:
    """The events from 12 hours ago to ``calendar.lookahead_h`` ahead: the local copy when
    it is young enough and covers the window (unless ``refresh``), else the provider's,
    kept; the copy, with a warning, when the provider cannot be reached."""
    name = provider_name(settings)
    if name is None:
        raise UsageError(
            "No calendar is configured.",
            hint="qylon config set calendar.provider msgraph (or google), then "
            "qylon integrations connect msgraph",
        )
    now = now or datetime.now(UTC)
    start = now - BACK
    end = now + timedelta(hours=float(settings.get("calendar.lookahead_h", 24)))
    cached, info = _cached(store, name)
    if info and not refresh:
        age = now - datetime.fromisoformat(info["fetched_at"])
        covers = datetime.fromisoformat(info["window_end"]) >= min(end, now + timedelta(hours=1))
        if covers and age.total_seconds() < float(settings.get("calendar.refresh_s", 300)):
            return Window(name, cached, "cache", info["fetched_at"])
    try:
        events = _provider(name).list_events(start, end)
    except Unavailable as exc:
        if info is None:
            raise
        copied = info["fetched_at"][:16].replace("T", " ")
        warning = f"The calendar could not be reached ({exc.message}); showing the copy from {copied} UTC."
        return Window(name, cached, "offline", info["fetched_at"], [warning])
    return Window(name, events, "calendar", _save(store, name, events, start, end))


def _rules(settings) -> dict[str, str]:
    """``calendar.client_domains`` (``"acme.example=Acme, globex.com=Globex"``) by domain."""
    rules = {}
    for part in str(settings.get("calendar.client_domains", "") or "").split(","):
        domain, sep, client = part.partition("=")
        if sep and domain.strip() and client.strip():
            rules[domain.strip().lower().lstrip("@")] = client.strip()
    return rules


def client_for(store: Store, settings, event: Event) -> str | None:
    """The client an event is with, by its attendees' email domains: the rules first, then
    the client list's domains (active clients); None when no domain matches."""
    domains = [
        p.email.rsplit("@", 1)[1].lower() for p in event.attendees if p.email and "@" in p.email
    ]
    rules = _rules(settings)
    for domain in domains:
        if domain in rules:
            return rules[domain]
    known = {
        (row[1] or "").lower().removeprefix("www."): row[0]
        for row in store.db.execute(
            "SELECT name, domain FROM clients_cache WHERE status = 'active' AND domain IS NOT NULL"
        )
    }
    for domain in domains:
        if domain in known:
            return known[domain]
    return None


def described(store: Store, settings, event: Event | None) -> dict | None:
    """An event as commands show it: its fields and its client."""
    if event is None:
        return None
    return {**event.model_dump(mode="json"), "client": client_for(store, settings, event)}


def for_recording(
    store: Store, settings, *, on_warning: Callable[[str], None] = lambda _: None
) -> dict | None:
    """What a recording takes from the event on now, when a calendar is configured:
    ``recording_info``; None when there is
    no calendar or no event now. A calendar that fails is a warning, never an error: the
    recording goes ahead without it."""
    from qylon_cli.errors import QylonError

    if provider_name(settings) is None:
        return None
    now = datetime.now(UTC)
    try:
        found = window(store, settings, now=now)
    except QylonError as exc:
        on_warning(f"The calendar was not read: {exc.message}")
        return None
    for message in found.warnings:
        on_warning(message)
    event = found.current(now)
    return None if event is None else recording_info(store, settings, found.provider, event)


def recording_info(store: Store, settings, provider: str, event: Event) -> dict:
    """What a recording keeps of its calendar event (the manifest's ``calendar``)."""
    return {
        "provider": provider,
        "event_id": event.id,
        "title": event.title,
        "client": client_for(store, settings, event),
        "attendees": [p.model_dump() for p in event.attendees],
        "meeting_url": event.meeting_url,
        "start": _stamp(event.start),
        "end": _stamp(event.end),
    }
