"""Check and normalise one cell of each field. Each parser returns the normalised value or
raises ``Bad(code, message)`` with a plain explanation.

Start dates accept, besides ISO ``2026-03-15``:

- year first, any of ``- / .`` as separator (``2026/03/15``, ``2026.03.15``) and
  ``20260315``: always year-month-day;
- dots with the year last (``15.03.2026``): always day.month.year, the convention
  everywhere dots are used;
- slashes or dashes with the year last (``03/15/2026``, ``15-03-2026``): when one of the
  first two numbers is over 12 it must be the day; when both are 12 or under the date is
  ambiguous and ``date_order`` decides: ``dmy`` or ``mdy``, or ``auto`` (the default),
  which refuses the value rather than guess (``03/04/2026`` could be 3 April or 4 March);
- month names in English (``15 Mar 2026``, ``March 15, 2026``, ``15-Mar-26``);
- Excel serial numbers (``46096`` is 2026-03-15; 1900 date system);
- a time after the date (``2026-03-15 00:00:00``, ``3/15/2026 0:00``) is dropped.

Two-digit years mean 20YY up to ten years ahead of today, else 19YY.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache

from qylon_cli.addresses import Bad, _parse_phone, email, phone  # noqa: F401 (the field parsers)

from .model import ROLES

MAX_NAME = 100
MAX_TEXT = 200
MAX_ATTRIBUTE = 1000
_EXCEL_EPOCH = date(1899, 12, 30)
_YEAR_FIRST = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:[T ]\d.*)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})(?: \d.*)?$")
_SLASHED = re.compile(r"^(\d{1,2})([/-])(\d{1,2})\2(\d{2}|\d{4})(?:[T ]\d.*)?$")
_SERIAL = re.compile(r"^(\d{1,5})(?:\.\d+)?$")
_NAMED = (
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%B %d %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %y",
    "%a, %d %b %Y",
)
_STATUS = {
    "active": "active",
    "enabled": "active",
    "enable": "active",
    "suspended": "suspended",
    "suspend": "suspended",
    "disabled": "suspended",
    "inactive": "suspended",
    "deactivated": "suspended",
    "deprovisioned": "suspended",  # Okta's status of a deactivated user
    "blocked": "suspended",
}
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}


def text(value: str, *, limit: int = MAX_TEXT, what: str = "value") -> str:
    if len(value) > limit:
        raise Bad("too_long", f"{what} is {len(value)} characters long; the limit is {limit}")
    if "\n" in value or "\r" in value:
        raise Bad("line_break", f"{what} cannot contain a line break")
    return " ".join(value.split())


def time_zone(value: str) -> str:
    """An IANA time zone (Europe/London, America/New_York)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Bad(
            "time_zone_invalid", f"{value!r} is not a time zone, e.g. Europe/London"
        ) from None
    return value


def name(value: str) -> str:
    return text(value, limit=MAX_NAME, what="a name")


@lru_cache(maxsize=4096)
def cached_email(value: str, what: str = "manager") -> str:
    """``email`` for values that repeat (managers)."""
    return email(value, what=what)


def role(value: str) -> str:
    lowered = value.lower()
    if lowered not in ROLES:
        raise Bad("role_invalid", "role must be one of " + ", ".join(ROLES))
    return lowered


def status(value: str) -> str:
    found = _STATUS.get(value.lower())
    if found is None:
        raise Bad("status_invalid", "status must be active or suspended")
    return found


def flag(value: str, *, inverted: bool) -> str:
    """Entra's "Block sign in" (Yes = suspended) or an "enabled" column (true = active)."""
    lowered = value.lower()
    if lowered not in _YES | _NO:
        raise Bad("status_invalid", "expected Yes or No (true or false)")
    yes = lowered in _YES
    return "suspended" if yes == inverted else "active"


def groups(value: str) -> list[str]:
    found: list[str] = []
    for part in re.split(r"[,;|]", value):
        part = " ".join(part.split())
        if part and part not in found:
            found.append(text(part, what="a group name"))
    return found


def _year(text_year: str) -> int:
    year = int(text_year)
    if len(text_year) == 2:
        pivot = (date.today().year + 10) % 100
        year += 2000 if year <= pivot else 1900
    return year


def _make(year: int, month: int, day: int, raw: str) -> date:
    try:
        result = date(year, month, day)
    except ValueError:
        raise Bad("date_invalid", f"{raw!r} is not a real date") from None
    if not 1900 <= result.year <= 2100:
        raise Bad("date_out_of_range", "start date must be between 1900 and 2100")
    return result


def start_date(value: str, *, order: str = "auto") -> date:
    """Parse a start date by the rules in this module's docstring."""
    raw = value.strip()
    if m := _YEAR_FIRST.match(raw):
        return _make(int(m[1]), int(m[3]), int(m[4]), raw)
    if m := _COMPACT.match(raw):
        return _make(int(m[1]), int(m[2]), int(m[3]), raw)
    if m := _DOTTED.match(raw):
        return _make(_year(m[3]), int(m[2]), int(m[1]), raw)
    if m := _SLASHED.match(raw):
        first, second, year = int(m[1]), int(m[3]), _year(m[4])
        if first > 12 and second <= 12:
            return _make(year, second, first, raw)
        if second > 12 and first <= 12:
            return _make(year, first, second, raw)
        if first == second or order == "mdy":
            return _make(year, first, second, raw)
        if order == "dmy":
            return _make(year, second, first, raw)
        if first > 12:
            raise Bad("date_invalid", f"{raw!r} is not a real date")
        raise Bad(
            "date_ambiguous",
            f"{raw!r} could be day/month or month/day: pass --date-order dmy or mdy, or write it as YYYY-MM-DD",
        )
    if m := _SERIAL.match(raw):
        serial = int(m[1])
        if serial < 1:
            raise Bad("date_invalid", f"{raw!r} is not a date")
        return _make(*(_EXCEL_EPOCH + timedelta(days=serial)).timetuple()[:3], raw)
    for fmt in _NAMED:
        try:
            parsed = datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        return _make(parsed.year, parsed.month, parsed.day, raw)
    raise Bad("date_invalid", f"{raw!r} is not a date Qylon reads: write it as YYYY-MM-DD")
