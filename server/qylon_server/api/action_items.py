"""/v1/action-items: every meeting's action items, filtered, and their status."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from qylon_cli.schemas import ActionItemPage, ActionItemRow, ActionItemUpdate

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..models import ActionItem as ItemRow
from ..models import Meeting as MeetingRow
from ..services import meetings
from .pages import Limit, Offset

router = APIRouter(prefix="/v1/action-items", tags=["action-items"], responses=ERROR_RESPONSES)


def out(item: ItemRow, meeting: MeetingRow) -> ActionItemRow:
    return ActionItemRow(
        id=item.id,
        owner=item.owner,
        task=item.task,
        due=item.due,
        status=item.status,
        quote=item.quote,
        start=item.start,
        meeting_id=meeting.id,
        meeting_title=meeting.title,
        client=meeting.client_name,
        client_id=meeting.client_id,
    )


@router.get("", response_model=ActionItemPage)
def list_action_items(
    ctx: Allowed("action_items:read"),
    owner: Annotated[str | None, Query(max_length=200)] = None,
    status: Literal["open", "done"] | None = None,
    client: Annotated[str | None, Query(max_length=200, description="A client id or name.")] = None,
    meeting_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ActionItemPage:
    """Action items across meetings, newest meeting first."""
    stmt = select(ItemRow, MeetingRow).join(
        MeetingRow, (MeetingRow.org_id == ItemRow.org_id) & (MeetingRow.id == ItemRow.meeting_id)
    )
    if owner:
        stmt = stmt.where(func.lower(ItemRow.owner) == owner.lower())
    if status:
        stmt = stmt.where(ItemRow.status == status)
    stmt = meetings.of_client(stmt, client)
    if meeting_id:
        stmt = stmt.where(ItemRow.meeting_id == meeting_id)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = ctx.session.execute(
        stmt.order_by(MeetingRow.created_at.desc(), ItemRow.start, ItemRow.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return ActionItemPage(
        items=[out(i, m) for i, m in rows], total=int(total or 0), limit=limit, offset=offset
    )


@router.patch("/{meeting_id}/{item_id}", response_model=ActionItemRow)
def update_action_item(
    meeting_id: Annotated[str, Path(max_length=36)],
    item_id: Annotated[str, Path(max_length=100)],
    body: ActionItemUpdate,
    ctx: Allowed("action_items:write"),
) -> ActionItemRow:
    """Mark an action item open or done."""
    item, meeting = meetings.set_item_status(ctx.session, ctx.principal, meeting_id, item_id, body)
    return out(item, meeting)
