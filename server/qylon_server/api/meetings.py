"""/v1/meetings: idempotent upload by the agent's UUID, list, get and delete.

``PUT /v1/meetings/{id}`` with the same body twice stores the meeting once: the
second call finds the same content hash and changes nothing. The body's
``updated_at`` (the agent's latest edit) orders edits: one older than the edit the
server has is refused with 409 ``stale_edit``, never applied over a newer one.
An action item keeps whichever status changed last, the server's or the agent's.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from qylon_cli.schemas import (
    ActionItem,
    Meeting,
    MeetingListItem,
    MeetingPage,
    MeetingStored,
    Segment,
    Speaker,
)

from ..deps import Allowed
from ..errors import ERROR_RESPONSES, ApiError, not_found
from ..models import ActionItem as ItemRow
from ..models import Client as ClientRow
from ..models import Meeting as MeetingRow
from ..models import now
from ..payloads import read_payload, stored
from ..services import audit
from ..services.rows import get_or_404
from .pages import Limit, Offset, page

router = APIRouter(prefix="/v1/meetings", tags=["meetings"], responses=ERROR_RESPONSES)

MeetingId = Annotated[
    str, Path(description="The meeting's UUID, chosen by the agent.", max_length=36)
]


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(422, f"{value!r} is not a UUID.", code="invalid_input") from None


def content_hash(meeting: Meeting) -> str:
    doc = meeting.model_dump(mode="json", exclude={"updated_at"})
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _client_id(session, name: str | None) -> str | None:
    if not name:
        return None
    return session.scalar(
        select(ClientRow.id).where(func.lower(ClientRow.name) == name.strip().lower())
    )


def _write(session, row: MeetingRow, meeting: Meeting, digest: str, user_id: str) -> None:
    row.title = meeting.title
    row.client_name = meeting.client
    row.client_id = _client_id(session, meeting.client)
    row.source = meeting.source
    row.created_at = meeting.created_at
    row.duration_s = meeting.duration_s
    row.language = meeting.language
    row.model = meeting.model
    row.summary = meeting.summary
    row.decisions = list(meeting.decisions)
    row.speakers = [s.model_dump(mode="json") for s in meeting.speakers]
    row.segments = stored("meeting_segments", [s.model_dump(mode="json") for s in meeting.segments])
    row.content_hash = digest
    row.date_source = meeting.date_source
    row.edited_at = meeting.updated_at
    row.uploaded_by = user_id
    row.updated_at = now()


def _replace_items(session, meeting: Meeting) -> None:
    """Replace the items; each keeps the status that changed last (an agent's item without
    a time of change has not changed there: a status set on the server stays)."""
    before = {
        i.id: (i.status, i.updated_at)
        for i in session.scalars(select(ItemRow).where(ItemRow.meeting_id == meeting.id))
    }
    session.execute(delete(ItemRow).where(ItemRow.meeting_id == meeting.id))
    for item in meeting.action_items:
        status, changed = item.status, item.updated_at or now()
        if item.id in before:
            old_status, old_changed = before[item.id]
            if old_status != item.status and (
                item.updated_at is None or old_changed > item.updated_at
            ):
                status, changed = old_status, old_changed
        session.add(
            ItemRow(
                meeting_id=meeting.id,
                id=item.id,
                owner=item.owner,
                task=item.task,
                due=item.due.isoformat() if item.due else None,
                status=status,
                quote=item.quote,
                start=item.start,
                updated_at=changed,
            )
        )


def _refuse_stale(row: MeetingRow, body: Meeting) -> None:
    if row.edited_at and body.updated_at and body.updated_at < row.edited_at:
        raise ApiError(
            409,
            f"The server has a newer edit of this meeting ({row.edited_at.isoformat()}) than this one "
            f"({body.updated_at.isoformat()}); this one was not applied.",
            code="stale_edit",
            hint="Edit the meeting again where it is newest, or fetch the server's copy.",
        )


@router.put(
    "/{meeting_id}",
    response_model=MeetingStored,
    responses={201: {"model": MeetingStored, "description": "Created"}},
)
def put_meeting(
    meeting_id: MeetingId, body: Meeting, response: Response, ctx: Allowed("meetings:write")
) -> MeetingStored:
    """Store a meeting under the agent's UUID; repeating the same PUT changes nothing."""
    meeting_id = _uuid(meeting_id)
    if _uuid(body.id) != meeting_id:
        raise ApiError(
            422, "The meeting id in the body does not match the URL.", code="invalid_input"
        )
    body = body.model_copy(update={"id": meeting_id})
    ids = [a.id for a in body.action_items]
    if len(ids) != len(set(ids)):
        raise ApiError(
            422, "Action item ids must be unique within a meeting.", code="invalid_input"
        )
    s, digest = ctx.session, content_hash(body)
    row = s.get(MeetingRow, (ctx.principal.org_id, meeting_id))
    created = row is None
    if row is not None and row.content_hash == digest:
        if body.updated_at and (row.edited_at is None or body.updated_at > row.edited_at):
            row.edited_at = (
                body.updated_at
            )  # the same content, edited again: remember the newer time
        response.status_code = 200
        return MeetingStored(id=meeting_id, created=False, changed=False, client_id=row.client_id)
    if row is not None:
        _refuse_stale(row, body)
    if created:
        row = MeetingRow(id=meeting_id, org_id=ctx.principal.org_id)
        _write(s, row, body, digest, ctx.principal.user.id)
        try:
            with s.begin_nested():
                s.add(row)
                s.flush()
        except IntegrityError:  # another request created it a moment ago: treat as an update
            s.expunge(row) if row in s else None
            row, created = (
                s.get(MeetingRow, (ctx.principal.org_id, meeting_id), populate_existing=True),
                False,
            )
            _write(s, row, body, digest, ctx.principal.user.id)
    else:
        _write(s, row, body, digest, ctx.principal.user.id)
    s.flush()
    _replace_items(s, body)
    audit.record(
        s,
        ctx.principal,
        "meeting.create" if created else "meeting.update",
        target_type="meeting",
        target_id=meeting_id,
    )
    response.status_code = 201 if created else 200
    return MeetingStored(id=meeting_id, created=created, changed=True, client_id=row.client_id)


@router.get("", response_model=MeetingPage)
def list_meetings(
    ctx: Allowed("meetings:read"),
    client: Annotated[str | None, Query(max_length=200, description="A client id or name.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> MeetingPage:
    """List meetings, newest first."""
    stmt = select(MeetingRow)
    if client:
        stmt = stmt.where(
            (MeetingRow.client_id == client)
            | (func.lower(MeetingRow.client_name) == client.lower())
        )
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


def _existing(ctx, meeting_id: str) -> MeetingRow:
    try:
        meeting_id = str(uuid.UUID(meeting_id))
    except ValueError:
        raise not_found("Meeting") from None
    return get_or_404(ctx.session, MeetingRow, (ctx.principal.org_id, meeting_id), what="Meeting")


@router.get("/{meeting_id}", response_model=Meeting)
def get_meeting(meeting_id: MeetingId, ctx: Allowed("meetings:read")) -> Meeting:
    """One meeting with its transcript, speakers and action items."""
    row = _existing(ctx, meeting_id)
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
    row = _existing(ctx, meeting_id)
    meeting_id = row.id
    ctx.session.execute(
        delete(ItemRow).where(
            ItemRow.org_id == ctx.principal.org_id, ItemRow.meeting_id == meeting_id
        )
    )
    ctx.session.delete(row)
    audit.record(
        ctx.session, ctx.principal, "meeting.delete", target_type="meeting", target_id=meeting_id
    )
    return Response(status_code=204)
