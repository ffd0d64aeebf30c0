"""The one timestamp format the agent writes into its store: ISO-8601 in UTC with
milliseconds and a ``Z`` (``2026-12-04T20:15:00.123Z``).

Strings in this form sort as the moments they name, so the store compares them in SQL
(``next_run_at <= ?``). Rows written before it was the one format (``+00:00`` offsets,
whole seconds, the triggers' stamps without an offset) are read by :func:`parse` and
:func:`utc`, so nothing needs rewriting.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """``moment`` (aware) as the store writes it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> str:
    return iso(datetime.now(UTC))


def parse(stamp: str) -> datetime:
    """Any timestamp the store has held, as an aware UTC datetime (no offset means UTC)."""
    moment = datetime.fromisoformat(stamp)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc(stamp: str | None) -> str | None:
    """A stored timestamp as ISO with an offset, for output (old rows included)."""
    return iso(parse(stamp)) if stamp else stamp
