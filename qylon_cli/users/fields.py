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
    "blocked": "suspended",
}
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}


class Bad(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def text(value: str, *, limit: int = MAX_TEXT, what: str = "value") -> str:
    if len(value) > limit:
        raise Bad("too_long", f"{what} is {len(value)} characters long; the limit is {limit}")
    if "\n" in value or "\r" in value:
        raise Bad("line_break", f"{what} cannot contain a line break")
    return " ".join(value.split())


def name(value: str) -> str:
    return text(value, limit=MAX_NAME, what="a name")


def email(value: str, *, what: str = "email") -> str:
    """Validate with email-validator (no DNS) and normalise to lower case.

    Speed: email-validator spends most of its time on the domain. Each distinct domain is
    checked by it once (cached); an address whose part before the @ is a plain ASCII
    dot-atom (letters, digits, ``!#$%&'*+/=?^_`{|}~-`` and single inner dots, at most 64
    characters) on a domain already accepted is then valid by the same rules. Anything
    else goes through email-validator whole.
    """
    local, at, domain = value.rpartition("@")
    if at and len(local) <= 64 and len(value) <= 254 and _PLAIN_LOCAL.match(local):
        checked = _domain(domain)
        if checked is not None:
            return (local + "@" + checked).lower()
    return _full_email(value, what)


_PLAIN_LOCAL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$"
)


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str | None:
    """The normalised domain if email-validator accepts it (tried with a plain local part)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email("postmaster@" + domain, check_deliverability=False).domain
    except EmailNotValidError:
        return None


@lru_cache(maxsize=4096)
def cached_email(value: str, what: str = "manager") -> str:
    """``email`` for values that repeat (managers)."""
    return email(value, what=what)


def _full_email(value: str, what: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Bad(f"{what}_invalid", f"not a valid email address: {exc}") from None
    return result.normalized.lower()


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


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_POSSIBLE: dict[tuple[str, int], bool] = {}


def phone(value: str, *, region: str | None) -> str:
    """Parse with phonenumbers, check the number is possible, return it in E.164.

    Speed: whether a number is possible depends on its country code and length only.
    Once a number written as ``+`` and digits came back from phonenumbers unchanged, other
    numbers with the same first six digits and length are taken without parsing again.
    """
    compact = value.replace(" ", "").replace("-", "")
    key = (compact[:7], len(compact))
    if key in _POSSIBLE and _E164.match(compact):
        return compact
    result = _parse_phone(value, region)
    if result == compact and _E164.match(compact) and len(_POSSIBLE) < 100_000:
        _POSSIBLE[key] = True
    return result


def _parse_phone(value: str, region: str | None) -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise Bad(
                "phone_no_country",
                "phone number has no country code: write it as +<country code>..., or give a default region (--region GB)",
            ) from None
        raise Bad("phone_invalid", "not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise Bad(
            "phone_invalid", "not a possible phone number for its country (wrong number of digits)"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
