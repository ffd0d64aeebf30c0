"""/v1/meetings: idempotent upload by the agent's UUID, list, get and delete (the rules
are in ``services.meetings``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import func, select

from qylon_cli.schemas import (
    ActionItem,
    Meeting,
    MeetingListItem,
    MeetingPage,
    MeetingStored,
    Segment,
    Speaker,
)

from ..deps import Allowed, Ctx
from ..errors import ERROR_RESPONSES
from ..models import ActionItem as ItemRow
from ..models import Meeting as MeetingRow
from ..one_trip import OneTripRoute, one_trip
from ..payloads import read_payload
from ..services import meetings
from .pages import JsonBytes, Limit, Offset, page

router = APIRouter(
    prefix="/v1/meetings", tags=["meetings"], responses=ERROR_RESPONSES, route_class=OneTripRoute
)

MeetingId = Annotated[
    str, Path(description="The meeting's UUID, chosen by the agent.", max_length=36)
]


@router.put(
    "/{meeting_id}",
    response_model=MeetingStored,
    responses={201: {"model": MeetingStored, "description": "Created"}},
)
@one_trip("meetings:write")
def put_meeting(ctx: Ctx, meeting_id: MeetingId, body: Meeting) -> JsonBytes:
    """Store a meeting under the agent's UUID; repeating the same PUT changes nothing."""
    result = meetings.put(ctx.session, ctx.principal, meeting_id, body)
    return JsonBytes(result.model_dump_json(), status_code=201 if result.created else 200)


@router.get("", response_model=MeetingPage)
def list_meetings(
    ctx: Allowed("meetings:read"),
    client: Annotated[str | None, Query(max_length=200, description="A client id or name.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> MeetingPage:
    """List meetings, newest first."""
    stmt = meetings.of_client(select(MeetingRow), client)
    rows, total = page(
        ctx.session,
        stmt,
        limit=limit,
        offset=offset,
        order_by=[MeetingRow.created_at.desc(), MeetingRow.id],
    )
    counts = (
        dict(
            ctx.session.execute(
                select(ItemRow.meeting_id, func.count())
                .where(ItemRow.meeting_id.in_([r.id for r in rows]))
                .group_by(ItemRow.meeting_id)
            ).all()
        )
        if rows
        else {}
    )
    items = [
        MeetingListItem(
            id=r.id,
            title=r.title,
            client=r.client_name,
            client_id=r.client_id,
            created_at=r.created_at,
            duration_s=r.duration_s,
            action_items=counts.get(r.id, 0),
        )
        for r in rows
    ]
    return MeetingPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{meeting_id}", response_model=Meeting)
def get_meeting(meeting_id: MeetingId, ctx: Allowed("meetings:read")) -> Meeting:
    """One meeting with its transcript, speakers and action items."""
    row = meetings.get(ctx.session, ctx.principal, meeting_id)
    meeting_id = row.id
    items = ctx.session.scalars(
        select(ItemRow).where(ItemRow.meeting_id == meeting_id).order_by(ItemRow.start, ItemRow.id)
    )
    return Meeting(
        id=row.id,
        title=row.title,
        client=row.client_name,
        source=row.source,
        created_at=row.created_at,
        date_source=row.date_source,
        updated_at=row.edited_at,
        duration_s=row.duration_s,
        language=row.language,
        model=row.model,
        summary=row.summary,
        decisions=row.decisions or [],
        speakers=[Speaker(**s) for s in row.speakers or []],
        segments=[Segment(**s) for s in read_payload("meeting_segments", row.segments) or []],
        action_items=[
            ActionItem(
                id=i.id,
                owner=i.owner,
                task=i.task,
                due=i.due,
                status=i.status,
                quote=i.quote,
                start=i.start,
                updated_at=i.updated_at,
            )
            for i in items
        ],
    )


@router.delete("/{meeting_id}", status_code=204, responses={204: {"description": "Deleted"}})
def delete_meeting(meeting_id: MeetingId, ctx: Allowed("meetings:write")) -> Response:
    """Delete a meeting with its action items (the agent sends this when it was deleted there)."""
    meetings.delete(ctx.session, ctx.principal, meeting_id)
    return Response(status_code=204)
