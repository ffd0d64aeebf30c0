"""Meetings: stored under the agent's UUID, idempotently, with their action items.

Storing the same meeting twice stores it once: the second call finds the same content
hash and changes nothing. The meeting's ``updated_at`` (the agent's latest edit) orders
edits: one older than the edit the server has is refused with 409 ``stale_edit``, never
applied over a newer one. An action item keeps whichever status changed last, the
server's or the agent's. A meeting that names a client is linked to the client of that
name (case-insensitive); a name the server does not know is kept, unlinked, until such
a client is created (``services.clients`` links it then).
"""

from __future__ import annotations

import hashlib
import json
import uuid

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qylon_cli.schemas import ActionItemUpdate, Meeting, MeetingStored

from ..errors import ApiError, not_found
from ..events import append, append_many, domain, stream_of
from ..models import ActionItem as ItemRow
from ..models import Client as ClientRow
from ..models import Meeting as MeetingRow
from ..models import now
from ..payloads import stored
from . import audit
from .rows import get_or_404


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(422, f"{value!r} is not a UUID.", code="invalid_input") from None


def get(session: Session, principal, meeting_id: str) -> MeetingRow:
    """The meeting, or 404 (also for an id that is not a UUID: nothing could have it)."""
    try:
        meeting_id = str(uuid.UUID(meeting_id))
    except ValueError:
        raise not_found("Meeting") from None
    return get_or_404(session, MeetingRow, (principal.org_id, meeting_id), what="Meeting")


def of_client(stmt, client: str | None):
    """Narrow a query over meetings to one client, given by id or name."""
    if not client:
        return stmt
    return stmt.where(
        (MeetingRow.client_id == client) | (func.lower(MeetingRow.client_name) == client.lower())
    )


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


def _replace_items(session, meeting: Meeting) -> dict[str, str | None]:
    """Replace the items; each keeps the status that changed last (an agent's item without
    a time of change has not changed there: a status set on the server stays). The items
    there were before, with their due dates."""
    rows = session.scalars(select(ItemRow).where(ItemRow.meeting_id == meeting.id))
    before = {i.id: (i.status, i.updated_at, i.due) for i in rows}
    session.execute(sql_delete(ItemRow).where(ItemRow.meeting_id == meeting.id))
    for item in meeting.action_items:
        status, changed = item.status, item.updated_at or now()
        if item.id in before:
            old_status, old_changed, _ = before[item.id]
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
    return {k: due for k, (_, _, due) in before.items()}


def _refuse_stale(row: MeetingRow, body: Meeting) -> None:
    if row.edited_at and body.updated_at and body.updated_at < row.edited_at:
        raise ApiError(
            409,
            f"The server has a newer edit of this meeting ({row.edited_at.isoformat()}) than this one "
            f"({body.updated_at.isoformat()}); this one was not applied.",
            code="stale_edit",
            hint="Edit the meeting again where it is newest, or fetch the server's copy.",
        )


def put(session: Session, principal, meeting_id: str, body: Meeting) -> MeetingStored:
    """Store a meeting under the agent's UUID; the same content again changes nothing."""
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
    s, digest = session, content_hash(body)
    row = s.get(MeetingRow, (principal.org_id, meeting_id))
    created = row is None
    if row is not None and row.content_hash == digest:
        if body.updated_at and (row.edited_at is None or body.updated_at > row.edited_at):
            row.edited_at = body.updated_at  # the same content, edited again: the newer time
        return MeetingStored(id=meeting_id, created=False, changed=False, client_id=row.client_id)
    if row is not None:
        _refuse_stale(row, body)
    if created:
        row = MeetingRow(id=meeting_id, org_id=principal.org_id)
        _write(s, row, body, digest, principal.user.id)
        try:
            with s.begin_nested():
                s.add(row)
                s.flush()
        except IntegrityError:  # another request created it a moment ago: treat as an update
            s.expunge(row) if row in s else None
            row, created = (
                s.get(MeetingRow, (principal.org_id, meeting_id), populate_existing=True),
                False,
            )
            _write(s, row, body, digest, principal.user.id)
    else:
        _write(s, row, body, digest, principal.user.id)
    s.flush()
    had = _replace_items(s, body)
    audit.record(
        s,
        principal,
        "meeting.create" if created else "meeting.update",
        target_type="meeting",
        target_id=meeting_id,
    )
    data = {"created": created, "content_hash": digest, "client_id": row.client_id}
    data["action_items"] = len(body.action_items)
    stream = stream_of("meeting", meeting_id)
    events = [(stream, domain.MeetingStored, data)]
    for item in body.action_items:
        due = item.due.isoformat() if item.due else None
        if item.id in had and had[item.id] == due:
            continue
        about = {"meeting_id": meeting_id, "item_id": item.id, "owner": item.owner}
        about.update(task=item.task, due=due)
        if item.id in had:
            about["previous_due"] = had[item.id]
        kind = domain.ActionItemDueChanged if item.id in had else domain.ActionItemCreated
        events.append((stream, kind, about))
    append_many(s, principal, events)
    return MeetingStored(id=meeting_id, created=created, changed=True, client_id=row.client_id)


def delete(session: Session, principal, meeting_id: str) -> None:
    """Delete a meeting with its action items (the agent sends this when it was deleted there)."""
    row = get(session, principal, meeting_id)
    session.execute(
        sql_delete(ItemRow).where(ItemRow.org_id == principal.org_id, ItemRow.meeting_id == row.id)
    )
    session.delete(row)
    audit.record(session, principal, "meeting.delete", target_type="meeting", target_id=row.id)
    append(session, principal, stream_of("meeting", row.id), domain.MeetingDeleted, {})


def set_item_status(
    session: Session, principal, meeting_id: str, item_id: str, body: ActionItemUpdate
) -> tuple[ItemRow, MeetingRow]:
    """Mark an action item open or done (an audit event when it changes)."""
    item = get_or_404(session, ItemRow, (principal.org_id, meeting_id, item_id), what="Action item")
    meeting = session.get(MeetingRow, (principal.org_id, meeting_id))
    if item.status != body.status:
        item.status, item.updated_at = body.status, now()
        audit.record(
            session,
            principal,
            "action_item.update",
            target_type="action_item",
            target_id=f"{meeting_id}/{item_id}",
            detail={"status": body.status},
        )
    return item, meeting


def reassign_items(
    session: Session, principal, *, owners: list[str], to: str, status: str | None = "open"
) -> list[ItemRow]:
    """Give every action item owned by one of ``owners`` (compared case-insensitively; a
    person's email and names) to ``to``; only items of ``status`` when given. One audit
    event (``action_item.reassign``) with the count."""
    wanted = sorted({o.strip().lower() for o in owners if o and o.strip()})
    if not wanted:
        return []
    stmt = select(ItemRow).where(func.lower(ItemRow.owner).in_(wanted))
    if status:
        stmt = stmt.where(ItemRow.status == status)
    items = list(session.scalars(stmt))
    for item in items:
        item.owner, item.updated_at = to, now()
    if items:
        audit.record(
            session,
            principal,
            "action_item.reassign",
            target_type="action_item",
            detail={"from": wanted, "to": to, "count": len(items)},
        )
    return items
