"""Audit events: who did what, when, from which key. Only ever appended.

The one module that writes ``audit_events``: ``record`` adds one event to the session;
``event`` builds a row that ``record_many`` inserts together with others (the
provisioner queues its events and inserts them in one statement).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ..models import AuditEvent, now


def event(
    principal,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The row of one audit event by ``principal`` (None: the system)."""
    return {
        "org_id": principal.org_id if principal else None,
        "at": now(),
        "actor_user_id": principal.user.id if principal else None,
        "api_key_id": principal.key.id if principal else None,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "detail": {**(detail or {}), **(getattr(principal, "audit_detail", None) or {})},
        "ip": principal.ip if principal else None,
    }


def record(
    session: Session,
    principal,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    row = event(principal, action, target_type=target_type, target_id=target_id, detail=detail)
    if row["org_id"] is None:
        del row["org_id"]  # stamped with the session's organisation on flush
    session.add(AuditEvent(**row))


def record_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert events built by ``event`` in one statement."""
    if rows:
        session.execute(insert(AuditEvent), rows)
