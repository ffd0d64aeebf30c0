"""Helpers for the user-import tests: write CSV files in any encoding, run the pipeline."""

from __future__ import annotations

from pathlib import Path

from qylon_admin.users import columns, plan, reader, validate

from ..conftest import SHARED

CSV_DIR = SHARED / "data" / "csv"


def write(
    path: Path, text: str, encoding: str = "utf-8", bom: bytes = b"", newline: str = "\r\n"
) -> Path:
    """Write ``text`` (lines joined by \\n) with the given line ends, encoding and BOM."""
    path.write_bytes(bom + text.replace("\n", newline).encode(encoding))
    return path


def check(path: Path, *, mapping=(), existing=(), mode="upsert", caller=None, **options):
    """Read, validate and plan ``path``: (source, validation, items, planner)."""
    source = reader.open_source(path)
    cmap = columns.resolve(source.header, columns.parse_overrides(mapping))
    result = validate.validate(source, cmap, existing=list(existing), **options)
    items, planner = plan.plan_all(
        result.entries(), list(existing), mode=mode, caller=caller, errors=result.errors_by_row()
    )
    return source, result, items, planner


def users(path: Path, **options) -> dict:
    """The valid users of ``path`` by email."""
    _, result, _, _ = check(path, **options)
    with result:
        return {u.email: u for _, u in result.users() if u is not None}


def codes(result) -> list[tuple[int | None, str]]:
    return [(e.row, e.code) for e in result.errors]
