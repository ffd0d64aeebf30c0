"""Changing an assigned compliance item (admins): withdrawing it (it needs nothing more:
never overdue, not missing from a report, its escalation stops) and giving it a new due
date (its escalation ladder counts from the new one). Each is an event of the person's
``compliance:<user>`` stream and an audit event; ``follow(session, principal, row,
reason)`` tells the person's escalation run (``workflows/compliance_escalation.follow``)
and names the run that follows the item now. And reading back the evidence file that
completed an item (``evidence_of``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy.orm import Session

from ..errors import ApiError
from ..events import compliance as projection
from ..events import domain
from ..models import ComplianceEvidence, ComplianceItem
from . import audit

MAX_DAYS = 3653  # a due date at most ten years after the start date
Follow = Callable[[Session, object, ComplianceItem, str], "str | None"]


def _open(row: ComplianceItem, verb: str) -> None:
    if row.status == "completed":
        raise ApiError(409, f"A completed item cannot be {verb}.", code="already_completed")
    if row.status == "withdrawn":
        raise ApiError(409, "This item was withdrawn already.", code="withdrawn")


def withdraw(
    session: Session, principal, row: ComplianceItem, *, reason: str, follow: Follow | None = None
) -> ComplianceItem:
    """Withdraw ``row`` (409 when it is completed or withdrawn already)."""
    _open(row, "withdrawn")
    data = {"item_id": row.id, "reason": reason, "withdrawn_by": principal.user.id}
    projection.record(session, principal, row.user_id, [(domain.ComplianceItemWithdrawn, data)])
    if follow is not None:
        follow(session, principal, row, "withdrawn")
    audit.record(
        session,
        principal,
        "compliance.withdraw",
        target_type="compliance_item",
        target_id=row.id,
        detail={"item": row.item_key, "policy": row.policy_name, "reason": reason},
    )
    return row


def redate(
    session: Session,
    principal,
    row: ComplianceItem,
    *,
    due: date,
    reason: str | None = None,
    follow: Follow | None = None,
) -> tuple[ComplianceItem, bool]:
    """Give ``row`` the due date ``due``; (row, changed): the same date again changes
    nothing. Between the person's start date and ten years after it (else 422); a
    completed or withdrawn item is a 409."""
    _open(row, "redated")
    if due.isoformat() == row.due_date:
        return row, False
    start = date.fromisoformat(row.start_date)
    if not start <= due <= start + timedelta(days=MAX_DAYS):
        raise ApiError(
            422,
            f"The due date {due} is not between the start date {row.start_date} and ten "
            "years after it.",
            code="invalid_input",
        )
    previous = row.due_date
    data = {"item_id": row.id, "due_date": due.isoformat(), "previous": previous}
    # the run told reads the items once this commits (its message and start are sent in
    # this transaction): it finds the new date
    data["reason"] = reason
    data["run_id"] = follow(session, principal, row, "redated") if follow else None
    projection.record(session, principal, row.user_id, [(domain.ComplianceItemRedated, data)])
    audit.record(
        session,
        principal,
        "compliance.redate",
        target_type="compliance_item",
        target_id=row.id,
        detail={"item": row.item_key, "from": previous, "to": data["due_date"], "reason": reason},
    )
    return row, True


def evidence_of(session: Session, row: ComplianceItem) -> ComplianceEvidence:
    """The file that completed ``row`` (404 when none: not completed, or acknowledged)."""
    found = session.get(ComplianceEvidence, row.evidence_id) if row.evidence_id else None
    if found is None or found.item_id != row.id:
        raise ApiError(404, "This item has no evidence file.", code="not_found")
    return found
