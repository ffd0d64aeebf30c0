"""Validate a whole user file before anything changes, without holding it in memory.

One pass over the file checks every row on its own and keeps only what the rules
across rows need: a hash of each email with its row (duplicates), and manager
references (missing managers, loops). Normalised rows go to a temporary spool file on
disk, read back by ``Validation.entries()`` for planning and applying, so a 1,000,000-row
file costs a few dozen bytes per row in memory. Errors are kept up to ``max_errors``; all are
counted.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Self

from qylon_cli.errors import InvalidInput

from . import fields as parse
from .columns import ColumnMap
from .mask import mask_email, mask_phone
from .model import RowError, UserRow
from .reader import Source

_TEXT_FIELDS = ("team", "title", "department", "location")
_NAME_FIELDS = ("first_name", "last_name", "display_name")


class ValidationFailed(InvalidInput):
    """The file has errors; ``details`` holds them (and the plan) for the JSON document."""

    code = "validation_failed"

    def __init__(self, message: str, *, hint: str | None = None, details: dict | None = None):
        super().__init__(message, hint=hint)
        self.details = details or {}

    def to_dict(self) -> dict:
        return {**super().to_dict(), **self.details}


def _masked(field_name: str | None, value: str) -> str:
    if field_name in ("email", "manager"):
        return mask_email(value)
    if field_name == "phone":
        return mask_phone(value)
    return value


@dataclass
class Validation:
    """The outcome of validating one file."""

    source: Source
    columns: ColumnMap
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    error_rows: set[int] = field(default_factory=set)
    rows_read: int = 0
    max_errors: int = 10_000
    _spool: IO[str] | None = None

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def valid_rows(self) -> int:
        return self.rows_read - len(self.error_rows)

    def add(
        self,
        row: int | None,
        column: str | None,
        field_name: str | None,
        code: str,
        message: str,
        value: str | None = None,
    ) -> None:
        self.error_count += 1
        if row is not None:
            self.error_rows.add(row)
        if len(self.errors) < self.max_errors:
            shown = _masked(field_name, value) if value is not None else None
            self.errors.append(
                RowError(
                    row=row,
                    column=column,
                    field=field_name,
                    code=code,
                    message=message,
                    value=shown,
                )
            )

    def users(self) -> Iterator[tuple[int, UserRow | None]]:
        """Every data row in file order: ``(row, user)``, user None when the row has errors."""
        for number, user, _ in self.entries():
            yield number, user

    def entries(self) -> Iterator[tuple[int, UserRow | None, str | None]]:
        """``(row, user, email)``: as ``users()``, with the normalised email of a rejected
        row when it had a valid one (so a sync never deactivates a user whose row failed)."""
        if self._spool is None:
            return
        self._spool.seek(0)
        rejected = self.error_rows
        for line in self._spool:
            data = json.loads(line)
            number = data.pop("row")
            email = data.pop("rejected_email", None) or data.get("email")
            if number in rejected or not data:
                yield number, None, email
            else:
                yield number, UserRow.model_validate(data), email

    def errors_by_row(self) -> dict[int, list[str]]:
        """Each rejected row's error messages (as kept: up to ``max_errors``)."""
        found: dict[int, list[str]] = {}
        for error in self.errors:
            if error.row is not None:
                found.setdefault(error.row, []).append(str(error))
        return found

    def summary(self) -> dict:
        return {
            "file": str(self.source.path),
            "encoding": self.source.encoding_label,
            "delimiter": self.source.delimiter_name,
            "version_line": self.source.version_line,
            "header_row": self.source.header_row,
            "skipped_example_rows": list(self.source.skipped_examples),
            "rows": self.rows_read,
            "valid_rows": self.valid_rows,
            "rejected_rows": len(self.error_rows),
            "error_count": self.error_count,
            "errors_listed": len(self.errors),
            "columns": self.columns.describe(),
        }

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _RowChecker:
    """Checks one row's cells; remembers what the rules across rows need."""

    def __init__(self, result: Validation, *, region: str | None, date_order: str):
        self.result = result
        self.region = region
        self.date_order = date_order
        self.index: dict[int, int] = {}  # hash(email) -> row << 64 | hash(manager) (0: none)
        self.manager_column = ""
        self.parsers = self._parsers()

    def check(self, number: int, cells: list[str]) -> dict | None:
        """The row's normalised user; None, or only its valid email, when it has errors."""
        result = self.result
        values, attrs = result.columns.extract(cells)
        errors_before = result.error_count
        self._extra_cells(number, cells)
        if "email" not in values:
            column = result.columns.column(result.columns.fields["email"][0])
            result.add(
                number, column, "email", "email_missing", "email is empty: every user needs one"
            )
        user = self._parsed(number, values)
        if attrs:
            user["attributes"] = self._attributes(number, attrs)
        if "display_name" not in user and ("first_name" in user or "last_name" in user):
            user["display_name"] = " ".join(
                user[k] for k in ("first_name", "last_name") if k in user
            )
        address = user.get("email")
        if address:
            self._cross(number, address, user, values)
        if result.error_count != errors_before:
            return {"rejected_email": address} if address else None
        if "start_date" in user:
            user["start_date"] = user["start_date"].isoformat()
        return user

    def _extra_cells(self, number: int, cells: list[str]) -> None:
        """Values beyond the header's last column mean a cell lost its quotes."""
        width = len(self.result.columns.header)
        if any(c.strip() for c in cells[width:]):
            self.result.add(
                number,
                None,
                None,
                "extra_cells",
                f"the row has {len(cells)} cells but the header has {width}: "
                "is a value with a delimiter missing its quotes?",
            )

    def _parsed(self, number: int, values: dict[str, tuple[str, str]]) -> dict:
        """Each field's value normalised; a value its parser refuses is an error."""
        user: dict = {}
        parsers = self.parsers
        for name, (value, column) in values.items():
            try:
                user[name] = parsers[name](value)
            except parse.Bad as bad:
                self.result.add(number, column, name, bad.code, bad.message, value)
        if "blocked" in user or "enabled" in user:
            user["status"] = user.pop("blocked", None) or user.pop("enabled")
        return user

    def _attributes(self, number: int, attrs: dict[str, tuple[str, str]]) -> dict[str, str]:
        """The custom attributes; one longer than ``MAX_ATTRIBUTE`` is an error."""
        found = {}
        for key, (value, column) in attrs.items():
            if len(value) > parse.MAX_ATTRIBUTE:
                self.result.add(
                    number,
                    column,
                    f"attr:{key}",
                    "too_long",
                    f"the value is {len(value)} characters long; the limit is {parse.MAX_ATTRIBUTE}",
                )
            found[key] = value
        return found

    def _parsers(self) -> dict:
        """Field -> function(value) returning the normalised value or raising Bad."""
        region, order = self.region, self.date_order
        return {
            "email": parse.email,
            "manager": parse.cached_email,
            **dict.fromkeys(_NAME_FIELDS, parse.name),
            **dict.fromkeys(_TEXT_FIELDS, parse.text),
            "role": parse.role,
            "status": parse.status,
            "blocked": lambda v: parse.flag(v, inverted=True),
            "enabled": lambda v: parse.flag(v, inverted=False),
            "groups": parse.groups,
            "phone": lambda v: parse.phone(v, region=region),
            "time_zone": parse.time_zone,
            "start_date": lambda v: parse.start_date(v, order=order),
        }

    def _cross(self, number: int, address: str, user: dict, values: dict) -> None:
        key = _key(address)
        packed = self.index.get(key)
        if packed is not None:
            self.result.add(
                number,
                values["email"][1],
                "email",
                "email_duplicate",
                f"the same email is on row {packed >> 64}: each user may appear once",
                values["email"][0],
            )
            return
        manager = user.get("manager")
        if manager and manager == address:
            self.result.add(
                number,
                values["manager"][1],
                "manager",
                "manager_self",
                "a user cannot be their own manager",
                values["manager"][0],
            )
            manager = None
        elif manager:
            self.manager_column = values["manager"][1]
        self.index[key] = number << 64 | (_key(manager) if manager else 0)


_MASK = (1 << 63) - 1
_DONE = 1 << 63  # marks a row whose manager chain was followed (bit 63 of the low half)


def _is_done(node: int, index: dict[int, int], done_existing: set[int]) -> bool:
    packed = index.get(node)
    return bool(packed & _DONE) if packed is not None else node in done_existing


def _key(email: str) -> int:
    """A 63-bit hash of a normalised email (never 0, which means "no manager")."""
    return hash(email) & _MASK or 1


def _existing_index(existing: Iterable[Mapping]) -> tuple[set[int], dict[int, int]]:
    emails: set[int] = set()
    managers: dict[int, int] = {}
    for user in existing:
        address = str(user["email"]).lower()
        emails.add(_key(address))
        if user.get("manager"):
            managers[_key(address)] = _key(str(user["manager"]).lower())
    return emails, managers


def _check_managers(result: Validation, checker: _RowChecker, existing: Iterable[Mapping]) -> None:
    """Managers must exist (in the file or already); chains of managers must not loop.

    The index packs, per email hash, the row (high bits) and the manager's hash (low 64
    bits; 0 for none): one dict entry per row is all that is kept."""
    known, existing_graph = _existing_index(existing)
    index, column = checker.index, checker.manager_column
    _missing_managers(result, index, known, column)
    _manager_loops(result, index, existing_graph, column)
    _managers_on_rejected_rows(result, index, known, column)


def _missing_managers(
    result: Validation, index: dict[int, int], known: set[int], column: str
) -> None:
    """A manager must be a row of the file or an existing user."""
    for packed in index.values():
        manager = packed & _MASK
        if manager and manager not in index and manager not in known:
            result.add(
                packed >> 64,
                column,
                "manager",
                "manager_not_found",
                "the manager is neither in this file nor an existing user",
            )


def _manager_of(node: int, index: dict[int, int], existing_graph: dict[int, int]) -> int | None:
    packed = index.get(node)
    if packed is not None and packed & _MASK:
        return packed & _MASK
    return existing_graph.get(node)  # a file row without a manager keeps the current one


def _manager_loops(
    result: Validation, index: dict[int, int], existing_graph: dict[int, int], column: str
) -> None:
    """Follow each row's chain of managers (through existing users too) once; every row
    on a loop is an error. Rows walked are marked in place (``_DONE``), so each is
    followed once however many chains pass through it."""
    done_existing: set[int] = set()  # existing users not in the file; file rows are marked in place
    for start, packed in index.items():  # values read as reached: marks set on the way count
        if not packed & _MASK or packed & _DONE:
            continue
        path, loop = _walk(start, index, existing_graph, done_existing)
        if loop:
            _report_loop(result, loop, index, column)
        for n in path:
            if n in index:
                index[n] |= _DONE
            else:
                done_existing.add(n)


def _walk(
    start: int, index: dict[int, int], existing_graph: dict[int, int], done_existing: set[int]
) -> tuple[list[int], list[int]]:
    """Managers from ``start`` up to one without a manager, one already walked, or one seen
    on this walk: ``(the nodes walked, the loop they end in, or [])``."""
    path: list[int] = []
    on_path: dict[int, int] = {}
    node: int | None = start
    while node is not None and node not in on_path and not _is_done(node, index, done_existing):
        on_path[node] = len(path)
        path.append(node)
        node = _manager_of(node, index, existing_graph)
    loop = path[on_path[node] :] if node is not None and node in on_path else []
    return path, loop


def _report_loop(result: Validation, loop: list[int], index: dict[int, int], column: str) -> None:
    """One error on each file row of the loop that names a manager, showing the loop."""
    steps = [f"row {index[n] >> 64}" if n in index else "an existing user" for n in loop]
    chain = " → ".join([*steps, steps[0]])
    for n in loop:
        if n in index and index[n] & _MASK:
            result.add(
                index[n] >> 64,
                column,
                "manager",
                "manager_cycle",
                f"managers form a loop: {chain}",
            )


def _managers_on_rejected_rows(
    result: Validation, index: dict[int, int], known: set[int], column: str
) -> None:
    """A row whose manager is only on a rejected row cannot go ahead either (repeated until
    nothing changes, as each rejection can reject the rows below it)."""
    changed = True
    while changed:
        changed = False
        for packed in index.values():
            manager, row = packed & _MASK, packed >> 64
            if not manager or row in result.error_rows or manager in known or manager not in index:
                continue
            manager_row = index[manager] >> 64
            if manager_row in result.error_rows:
                result.add(
                    row,
                    column,
                    "manager",
                    "manager_rejected",
                    f"the manager's row {manager_row} has errors",
                )
                changed = True


def _check_options(region: str | None, date_order: str) -> None:
    if date_order not in ("auto", "dmy", "mdy"):
        raise InvalidInput(f"Unknown date order {date_order!r}.", hint="Use auto, dmy or mdy.")
    if region:
        import phonenumbers

        if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput(
                f"Unknown region {region!r}.",
                hint="Use a two-letter country code such as GB or US.",
            )


def validate(
    source: Source,
    columns: ColumnMap,
    *,
    existing: Iterable[Mapping] = (),
    region: str | None = None,
    date_order: str = "auto",
    max_errors: int = 10_000,
    progress: Callable[[str, int, int], None] | None = None,
) -> Validation:
    """Check every row of ``source``. ``existing`` are the users already there (dicts with
    at least ``email`` and ``manager``); managers may point at them. Close the result (or
    use it in ``with``) to delete its spool file. ``progress("check", done, total)`` is
    called every 1,000 rows with bytes read and the file's size."""
    _check_options(region, date_order)
    result = Validation(source=source, columns=columns, max_errors=max_errors)
    # The spool lives as long as the Validation, which closes it (close() / __exit__).
    result._spool = tempfile.TemporaryFile(  # noqa: SIM115
        "w+", encoding="utf-8", prefix="qylon-users-"
    )
    checker = _RowChecker(result, region=region.upper() if region else None, date_order=date_order)
    write = result._spool.write
    total = source.path.stat().st_size
    for number, cells in source.rows():
        result.rows_read += 1
        if progress and not result.rows_read % 1000:
            progress("check", source.bytes_read, total)
        user = checker.check(number, cells)
        write(json.dumps({"row": number, **(user or {})}, ensure_ascii=False) + "\n")
    if progress:
        progress("check", total, total)
    _check_managers(result, checker, existing)
    position = {name: i for i, name in reversed(list(enumerate(columns.header)))}
    result.errors.sort(key=lambda e: (e.row or 0, position.get(e.column, -1)))  # file order
    return result
