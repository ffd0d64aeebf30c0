"""Read, validate and plan a user file in one call: what ``qylon users validate`` shows
and what ``qylon users import`` will apply.

Memory stays bounded: the file is streamed twice (validation, then planning from the
spool), the report is written as the plan goes, and only the first ``limit`` plan
items are kept for display (``limit=0`` keeps them all).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from qylon_cli.errors import UsageError

from . import columns as columns_mod
from .model import MODES, PlanItem, RowError
from .plan import Planner, iter_plan
from .reader import open_source
from .report import ReportWriter
from .validate import Validation, validate


@dataclass
class Preview:
    """The outcome: the file's summary, the plan's counts and first items, every error."""

    validation: Validation
    planner: Planner
    items: list[PlanItem] = field(default_factory=list)
    truncated: bool = False
    report: Path | None = None
    template: str | None = None  # a recognised template whose rows are not "users to have"

    def close(self) -> None:
        self.validation.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def errors(self) -> list[RowError]:
        return sorted([*self.validation.errors, *self.planner.problems], key=lambda e: e.row or 0)

    @property
    def rejected_rows(self) -> int:
        """Rows with an error: from the checks, or found while planning (e.g. unknown groups)."""
        planned = {p.row for p in self.planner.problems if p.row is not None} - set(
            self.validation.error_rows
        )
        return len(self.validation.error_rows) + len(planned)

    @property
    def error_count(self) -> int:
        return self.validation.error_count + len(self.planner.problems)

    def to_dict(self) -> dict:
        return {
            "file": self.validation.summary(),
            "mode": self.planner.mode,
            "template": columns_mod.TEMPLATES.get(self.template or ""),
            "deletes": self.planner.deletes,
            "plan": self.planner.summary(),
            "items": [_item_dict(i) for i in self.items],
            "items_truncated": self.truncated,
            "new_groups": sorted(self.planner.new_groups.values(), key=str.casefold),
            "errors": [e.model_dump() for e in self.errors],
            "error_count": self.error_count,
            "report": str(self.report) if self.report else None,
        }


def _item_dict(item: PlanItem) -> dict:
    data = item.model_dump(mode="json", exclude={"user"}, exclude_defaults=True)
    data.setdefault("action", item.action)
    return data


def preview(
    path: str | Path,
    *,
    mapping: Iterable[str] = (),
    existing: Iterable[Mapping] | None = None,
    mode: str = "upsert",
    caller: str | None = None,
    region: str | None = None,
    date_order: str = "auto",
    encoding: str | None = None,
    delimiter: str | None = None,
    report: str | Path | None = None,
    limit: int = 100,
    keep: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    groups: Iterable[str] | None = None,
    create_groups: bool = True,
    deactivate: bool = False,
) -> Preview:
    """Validate ``path`` and plan it against ``existing`` users (a list of UserRow-shaped
    dicts). Errors are in the result, not raised; bad options raise UsageError.

    With ``keep=True`` the normalised rows stay available through
    ``result.validation.users()`` (to apply them) until ``result.close()``.
    ``progress(stage, done, total)`` reports "check" (bytes) then "plan" (rows).
    ``groups`` are the groups that exist (None: not checked); a row naming another is an
    error unless ``create_groups``. ``existing=None`` plans offline (no users known).
    ``deactivate``: every row names a user to deactivate; Entra ID's bulk delete template
    is recognised without it."""
    if mode not in MODES:  # a bad option is told before the file is read
        raise UsageError(f"Unknown mode {mode!r}.", hint="Use " + ", ".join(MODES) + ".")
    offline = existing is None
    existing = list(existing or ())
    source = open_source(path, encoding=encoding, delimiter=delimiter)
    cmap = columns_mod.resolve(source.header, columns_mod.parse_overrides(mapping))
    template = columns_mod.template(source.header, source.version_line)
    planner = Planner(
        existing,
        mode=mode,
        caller=caller,
        groups=groups,
        create_groups=create_groups,
        deletes=deactivate or template == "entra-delete",
        status_instruction=columns_mod.status_instruction(cmap),
        offline=offline,
    )
    writer = ReportWriter(report) if report else None
    result = validate(
        source, cmap, existing=existing, region=region, date_order=date_order, progress=progress
    )
    try:
        outcome = Preview(
            validation=result,
            planner=planner,
            report=Path(report) if report else None,
            template=template,
        )
        items = iter_plan(result.entries(), planner, result.errors_by_row())
        if progress:
            items = _counted(items, result.rows_read, progress)
        if writer:
            with writer:
                _collect(outcome, items, limit, writer)
        else:
            _collect(outcome, items, limit, None)
    finally:
        if not keep:
            result.close()
    return outcome


def _counted(items: Iterable[PlanItem], total: int, progress: Callable[[str, int, int], None]):
    for done, item in enumerate(items, start=1):
        if not done % 1000:
            progress("plan", min(done, total), total)
        yield item
    progress("plan", total, total)


def _collect(
    outcome: Preview, items: Iterable[PlanItem], limit: int, writer: ReportWriter | None
) -> None:
    for item in items:
        if writer:
            writer.write(item)
        if item.action in ("unchanged", "error"):
            continue  # counted; errors are listed on their own
        if limit and len(outcome.items) >= limit:
            outcome.truncated = True
            continue
        outcome.items.append(item)
