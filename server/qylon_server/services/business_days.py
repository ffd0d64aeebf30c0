"""Business days in a person's time zone: when the next email of a sequence is due.

``due(after, days, at, zone, country)``: ``days`` business days after the instant
``after`` as the person sees it (their local date), at the local time ``at`` (else the
same local time of day as ``after``), as a UTC instant. Saturdays, Sundays and, with a
``country``, its public holidays (the ``holidays`` package) are not business days. Zero
days with an ``at`` means the next business moment at that hour: today if it is still
to come on a business day, else the next business day.

Local times that a daylight-saving change skips (02:30 on the spring-forward night) move
on by the gap; times it repeats take their first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UnknownZone(ValueError):
    pass


def zone(name: str | None) -> ZoneInfo:
    """The time zone ``name`` (IANA, e.g. ``Europe/London``); UTC when empty."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(f"{name!r} is not a time zone (e.g. Europe/London)") from None


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[date]:
    import holidays

    code, _, subdivision = country.partition("-")
    try:
        found = holidays.country_holidays(code, subdiv=subdivision or None, years=year)
    except NotImplementedError:
        return frozenset()  # a country the package does not know: weekends only
    return frozenset(found)


def is_business_day(day: date, country: str | None = None) -> bool:
    if day.weekday() >= 5:
        return False
    return not country or day not in _holidays(country, day.year)


def add_business_days(day: date, days: int, country: str | None = None) -> date:
    """The date ``days`` business days after ``day`` (``day`` itself need not be one)."""
    while days > 0:
        day += timedelta(days=1)
        if is_business_day(day, country):
            days -= 1
    return day


def local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """``day`` at ``at`` in ``tz``, as an aware datetime that exists: a time in a DST
    gap moves on by the gap (fold=0 for a repeated time: its first occurrence)."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz, fold=0)
    back = aware.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != naive:  # in a gap: what the wall clock reads after it
        aware = back
    return aware


def parse_at(at: str | None) -> time | None:
    if not at:
        return None
    hours, minutes = at.split(":")
    return time(int(hours), int(minutes))


def due(
    after: datetime,
    days: int,
    at: str | None,
    tz_name: str | None,
    country: str | None = None,
) -> datetime:
    """When an email ``days`` business days after ``after`` is due (UTC)."""
    tz = zone(tz_name)
    start = after.astimezone(tz)
    hour = parse_at(at) or start.timetz().replace(tzinfo=None)
    day = add_business_days(start.date(), days, country)
    when = local(day, hour, tz)
    if days == 0 and at is not None:
        # the next time it is `at` on a business day, from `after` on
        while when < start or not is_business_day(day, country):
            day = add_business_days(day, 1, country)
            when = local(day, hour, tz)
    return when.astimezone(UTC)
