"""/v1/audit-events: read-only; events are appended by the routes that change things."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from qylon_cli.schemas import AuditEvent, AuditEventPage

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..models import AuditEvent as EventRow
from .pages import Limit, Offset, page

router = APIRouter(prefix="/v1/audit-events", tags=["audit-events"], responses=ERROR_RESPONSES)


@router.get("", response_model=AuditEventPage)
def list_audit_events(
    ctx: Allowed("audit:read"),
    action: Annotated[str | None, Query(max_length=100, description="e.g. client.create")] = None,
    actor_user_id: Annotated[str | None, Query(max_length=36)] = None,
    api_key_id: Annotated[str | None, Query(max_length=36)] = None,
    target_id: Annotated[
        str | None, Query(max_length=100, description="The user, group, client... changed.")
    ] = None,
    since: Annotated[
        datetime | None,
        Query(description="Only events at or after this time (ISO 8601; UTC when no offset)."),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditEventPage:
    """Who did what, when and with which key, newest first."""
    stmt = select(EventRow)
    if action:
        stmt = stmt.where(EventRow.action == action)
    if actor_user_id:
        stmt = stmt.where(EventRow.actor_user_id == actor_user_id)
    if api_key_id:
        stmt = stmt.where(EventRow.api_key_id == api_key_id)
    if target_id:
        stmt = stmt.where(EventRow.target_id == target_id)
    if since is not None:
        stmt = stmt.where(EventRow.at >= (since if since.tzinfo else since.replace(tzinfo=UTC)))
    rows, total = page(ctx.session, stmt, limit=limit, offset=offset, order_by=[EventRow.id.desc()])
    items = [AuditEvent.model_validate(r, from_attributes=True) for r in rows]
    return AuditEventPage(items=items, total=total, limit=limit, offset=offset)
