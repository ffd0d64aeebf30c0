"""Write users as a CSV that ``reader`` + ``validate`` read back to the same rows.

The header is Qylon's field names, then ``attr:NAME`` for each custom attribute. Files
are UTF-8 with a byte-order mark (so Excel shows accents right), comma-separated,
CRLF. Groups are joined with ``;``. A text value starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return (or the full-width ``＝ ＋ － ＠``) gets a leading ``'`` so a
spreadsheet does not run it as a formula; the reader drops that apostrophe again. Only
a phone number in E.164 (``+`` and digits) is written as it is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from .model import FIELDS, UserRow

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def guard(value: str) -> str:
    """Defuse a value a spreadsheet would take for a formula (every CSV the CLI writes)."""
    return "'" + value if value[:1] in FORMULA_STARTS else value


def _cell(name: str, value) -> str:
    if value is None:
        return ""
    if name == "groups":
        value = ";".join(value)
    elif hasattr(value, "isoformat"):
        return value.isoformat()
    value = str(value)
    return value if name == "phone" and _E164.match(value) else guard(value)


def write_users(
    users: Iterable[UserRow | Mapping],
    out: str | Path | TextIO,
    *,
    attributes: Iterable[str] | None = None,
) -> int:
    """Write ``users`` to ``out`` (a path or a text stream opened with ``newline=""``).

    ``attributes`` names the attr: columns; when None every user is read first to
    collect them (fine for a server's users; pass them to stream). Returns the count.
    """
    if isinstance(out, (str, Path)):
        with open(out, "w", encoding="utf-8-sig", newline="") as handle:
            return write_users(users, handle, attributes=attributes)
    rows = (u if isinstance(u, UserRow) else UserRow.model_validate(u) for u in users)
    if attributes is None:
        listed = list(rows)
        attributes = sorted({key for user in listed for key in user.attributes})
        rows = iter(listed)
    names = list(attributes)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*FIELDS, *(f"attr:{n}" for n in names)])
    count = 0
    for user in rows:
        cells = [_cell(name, getattr(user, name)) for name in FIELDS]
        cells += [guard(user.attributes.get(n, "")) for n in names]
        writer.writerow(cells)
        count += 1
    return count
