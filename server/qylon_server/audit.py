"""Audit events: who did what, when, from which key. Only ever appended."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .models import AuditEvent


def record(
    session: Session,
    principal,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor_user_id=principal.user.id if principal else None,
            api_key_id=principal.key.id if principal else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=detail or {},
            ip=principal.ip if principal else None,
        )
    )
