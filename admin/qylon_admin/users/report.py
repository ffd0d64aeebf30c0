"""Write each row's outcome to a report file: CSV or JSON, streamed as the plan goes.

Columns (CSV) / keys (JSON): row, email, action, changes, reason, errors, outcome (what
applying did: created, updated, unchanged, deactivated, skipped, rejected; empty for a
plan that was not applied). The report is
the admin's own record, so emails appear in full; values inside error messages stay
masked as everywhere else. CSV cells a spreadsheet would run as a formula are guarded
with a leading ``'`` (see writer.guard).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Self

from qylon_cli.errors import UsageError

from .model import PlanItem
from .writer import guard

COLUMNS = ("row", "email", "action", "changes", "reason", "errors", "outcome")


def changes_text(changes: dict[str, dict], *, sep: str = "; ", empty: str = "(empty)") -> str:
    """``changes`` ({field: {"from", "to"}}) as one line: ``title: Analyst → Lead; ...``
    (the report's form; the plan on screen uses ``sep=", ", empty="∅"``)."""
    return sep.join(
        f"{name}: {c['from'] if c['from'] is not None else empty} → {c['to']}"
        for name, c in changes.items()
    )


class ReportWriter:
    """``with ReportWriter("out.csv") as report: report.write(item)``."""

    def __init__(self, path: str | Path, format: str | None = None):
        self.path = Path(path)
        self.format = (format or self.path.suffix.lstrip(".")).lower()
        if self.format not in ("csv", "json"):
            raise UsageError(
                f"Cannot tell the report format of {self.path.name}.", hint="Name it .csv or .json."
            )
        self._handle = None
        self._count = 0

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(
            self.path, "w", encoding="utf-8-sig" if self.format == "csv" else "utf-8", newline=""
        )
        if self.format == "csv":
            self._csv = csv.writer(self._handle, lineterminator="\r\n")
            self._csv.writerow(COLUMNS)
        else:
            self._handle.write("[")
        return self

    def write(self, item: PlanItem, outcome: str | None = None) -> None:
        if self.format == "csv":
            self._csv.writerow(
                [
                    item.row if item.row is not None else "",
                    guard(item.email),
                    item.action,
                    guard(changes_text(item.changes)),
                    guard(item.reason or ""),
                    guard(" | ".join(item.errors)),
                    outcome or "",
                ]
            )
        else:
            record = {
                "row": item.row,
                "email": item.email,
                "action": item.action,
                "changes": item.changes,
                "reason": item.reason,
                "errors": item.errors,
                "outcome": outcome,
            }
            self._handle.write(
                ("," if self._count else "") + "\n  " + json.dumps(record, ensure_ascii=False)
            )
        self._count += 1

    def __exit__(self, *exc) -> None:
        if self.format == "json":
            self._handle.write("\n]\n")
        self._handle.close()
