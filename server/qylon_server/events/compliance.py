"""The compliance-status projection: ``compliance_items`` from the ``compliance:<user>``
streams, updated in the transaction that appends each event (``record``) and rebuilt
from position 0 by ``qylon server replay compliance_items`` (``rebuild_items``).

``apply`` is the one place that says what an item's row is from its events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from ..models import ComplianceItem
from . import domain, store

STREAM = "compliance"
_DATES = ("assigned_at", "completed_at", "updated_at")
COLUMNS = tuple(c.key for c in sa_inspect(ComplianceItem).column_attrs)


def stream(user_id: str) -> str:
    return domain.stream_of(STREAM, user_id)


def _date(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def apply(rows: dict[str, Any], event: domain.Event, make=ComplianceItem) -> Any:
    """Apply ``event`` to ``rows`` (item id → row); returns the row it changed."""
    data = event.data
    item_id = data["item_id"]
    if isinstance(event, domain.ComplianceItemAssigned):
        columns = {k: v for k, v in data.items() if k != "item_id" and k in COLUMNS}
        row = make(
            **{
                **columns,
                "id": item_id,
                "org_id": event.org_id,
                "status": "assigned",
                "escalations": [],
                "assigned_at": event.timestamp,
                "updated_at": event.timestamp,
                "completed_at": None,
                "completed_by": None,
                "evidence_id": None,
                "evidence_sha256": None,
                "withdrawn_at": None,
                "withdrawn_by": None,
                "withdrawn_reason": None,
            }
        )
        rows[item_id] = row
        return row
    row = rows.get(item_id)
    if row is None:
        raise LookupError(f"{event.stream}: an event for item {item_id} before it was assigned")
    if isinstance(event, domain.ComplianceItemOverdue):
        return row  # news, not a change of the item
    if isinstance(event, domain.ComplianceItemCompleted):
        row.status = "completed"
        row.completed_at = event.timestamp
        row.completed_by = data.get("completed_by")
        row.evidence_id = data.get("evidence_id")
        row.evidence_sha256 = data["evidence_sha256"]
    elif isinstance(event, domain.ComplianceItemEscalated):
        keys = ("rung", "after", "notify", "to", "day", "due_date", "time")
        entry = {k: data.get(k) for k in keys}
        entry["due_date"] = entry["due_date"] or row.due_date  # events before redates
        row.escalations = [*(row.escalations or []), {**entry, "at": event.timestamp.isoformat()}]
    elif isinstance(event, domain.ComplianceItemWithdrawn):
        row.status = "withdrawn"
        row.withdrawn_at = event.timestamp
        row.withdrawn_by = data.get("withdrawn_by")
        row.withdrawn_reason = data.get("reason")
    elif isinstance(event, domain.ComplianceItemRedated):
        previous = data.get("previous") or row.due_date
        row.escalations = [  # rows projected before entries named their deadline
            {**e, "due_date": e.get("due_date") or previous} for e in row.escalations or []
        ]
        row.due_date = data["due_date"]
        row.run_id = data.get("run_id") or row.run_id
    row.updated_at = event.timestamp
    return row


def record(
    session: Session,
    principal,
    user_id: str,
    items: list[tuple[type[domain.Event], dict[str, Any]]],
) -> list[ComplianceItem]:
    """Append ``items`` (event type, data) to the person's stream and apply each to its
    row, in ``session``'s transaction."""
    events = store.append_many(
        session, principal, [(stream(user_id), cls, data) for cls, data in items]
    )
    rows: dict[str, Any] = {}
    changed = []
    for event in events:
        item_id = event.data["item_id"]
        if item_id not in rows and not isinstance(event, domain.ComplianceItemAssigned):
            rows[item_id] = session.get(ComplianceItem, item_id)
        row = apply(rows, event)
        if isinstance(event, domain.ComplianceItemAssigned):
            session.add(row)
        changed.append(row)
    session.flush()
    return changed


class _Row:
    def __init__(self, **columns):
        self.__dict__.update(dict.fromkeys(COLUMNS), **columns)


def rebuild_items(session: Session) -> int:
    """Replay the organisation's compliance events into ``compliance_items``: rows with no
    events go, rows the events describe are written as they say; returns the row count."""
    rows: dict[str, _Row] = {}
    for recorded in store.walk(session, types=domain.COMPLIANCE_TYPES):
        apply(rows, recorded.event, make=_Row)
    fresh = {rid: {c: getattr(r, c) for c in COLUMNS} for rid, r in rows.items()}
    existing = {row.id: row for row in session.scalars(select(ComplianceItem))}
    gone = [rid for rid in existing if rid not in fresh]
    if gone:
        session.execute(delete(ComplianceItem).where(ComplianceItem.id.in_(gone)))
    for rid, values in fresh.items():
        row = existing.get(rid)
        if row is None:
            session.add(ComplianceItem(**values))
            continue
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
    session.flush()
    return len(fresh)
