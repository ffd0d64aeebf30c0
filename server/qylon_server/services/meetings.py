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

import functools
import hashlib
import json
import uuid

from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from qylon_cli.schemas import ActionItemUpdate, Meeting, MeetingStored

from ..db import SKIP
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
    return _digest(meeting.model_dump(mode="json", exclude={"updated_at"}))


def _digest(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


_CLIENTS = ClientRow.__table__.c
# The client a meeting names (case-insensitively): a Core statement that names the
# organisation itself, as the upload's other statements do
_CLIENT_NAMED = select(_CLIENTS.id).where(
    _CLIENTS.org_id == bindparam("org"), func.lower(_CLIENTS.name) == bindparam("name")
)


def _client_id(session, org_id: str, name: str | None) -> str | None:
    if not name:
        return None
    found = session.connection().execute(
        _CLIENT_NAMED, {"org": org_id, "name": name.strip().lower()}
    )
    return found.scalar()


def _values(session, org_id: str, meeting: Meeting, doc: dict, user_id: str) -> dict:
    """The meeting's columns (but its key) from the upload and ``doc``, its JSON form
    without ``updated_at`` (whose hash is the content hash)."""
    return {
        "title": meeting.title,
        "client_name": meeting.client,
        "client_id": _client_id(session, org_id, meeting.client),
        "source": meeting.source,
        "created_at": meeting.created_at,
        "duration_s": meeting.duration_s,
        "language": meeting.language,
        "model": meeting.model,
        "summary": meeting.summary,
        "decisions": list(meeting.decisions),
        "speakers": doc["speakers"],
        "segments": stored("meeting_segments", doc["segments"]),
        "content_hash": _digest(doc),
        "date_source": meeting.date_source,
        "edited_at": meeting.updated_at,
        "uploaded_by": user_id,
        "updated_at": now(),
    }


def _created(session, org_id: str, meeting_id: str, values: dict) -> bool:
    """Insert the meeting unless a row has its key (another request stored it a moment
    ago): True when inserted. One statement, where a savepoint around an ORM insert took three."""
    row = {"org_id": org_id, "id": meeting_id, "received_at": now(), **values}
    found = session.connection().execute(_insert_unless_stored(tuple(row)), row)
    return found.first() is not None


@functools.cache
def _insert_unless_stored(columns: tuple[str, ...]):
    """``INSERT ... ON CONFLICT (org_id, id) DO NOTHING RETURNING id`` as text, with the
    columns' types: SQLAlchemy's own on_conflict constructs have no cache key, so every
    upload compiled its insert afresh (a fifth of the service's time); this compiles once.
    SQLite (3.35 and later) and PostgreSQL share the syntax."""
    c = MeetingRow.__table__.c
    names, params = ", ".join(columns), ", ".join(f":{n}" for n in columns)
    return text(
        f"INSERT INTO {MeetingRow.__tablename__} ({names}) VALUES ({params}) "
        "ON CONFLICT (org_id, id) DO NOTHING RETURNING id"
    ).bindparams(*(bindparam(n, type_=c[n].type) for n in columns))


def _add_items(session, org_id: str, meeting: Meeting, before: dict) -> None:
    """Insert the meeting's items in one statement; each keeps the status that changed
    last (``before``: id -> (status, changed) of the items it had; an agent's item
    without a time of change has not changed there: a status set on the server stays)."""
    rows = []
    for item in meeting.action_items:
        status, changed = item.status, item.updated_at or now()
        if item.id in before:
            old_status, old_changed = before[item.id]
            if old_status != item.status and (
                item.updated_at is None or old_changed > item.updated_at
            ):
                status, changed = old_status, old_changed
        rows.append(
            {
                "org_id": org_id,
                "meeting_id": meeting.id,
                "id": item.id,
                "owner": item.owner,
                "task": item.task,
                "due": item.due.isoformat() if item.due else None,
                "status": status,
                "quote": item.quote,
                "start": item.start,
                "updated_at": changed,
            }
        )
    if rows:
        session.connection().execute(insert(ItemRow.__table__), rows)


def _replace_items(session, org_id: str, meeting: Meeting) -> dict[str, str | None]:
    """Replace the items of a meeting stored before (``_add_items``); the items it had,
    with their due dates."""
    found = session.execute(
        select(ItemRow.id, ItemRow.status, ItemRow.updated_at, ItemRow.due).where(
            ItemRow.meeting_id == meeting.id
        )
    )
    before, due = {}, {}
    for i in found:
        before[i.id], due[i.id] = (i.status, i.updated_at), i.due
    session.execute(sql_delete(ItemRow).where(ItemRow.meeting_id == meeting.id))
    _add_items(session, org_id, meeting, before)
    return due


def _item_events(stream: str, meeting: Meeting, had: dict[str, str | None]) -> list:
    """``action_item.created`` for each item new to the meeting, ``action_item.due_changed``
    for each given another due date (``had``: the items it had, with their dates)."""
    events = []
    for item in meeting.action_items:
        due = item.due.isoformat() if item.due else None
        if item.id in had and had[item.id] == due:
            continue
        about = {"meeting_id": meeting.id, "item_id": item.id, "owner": item.owner}
        about.update(task=item.task, due=due)
        if item.id in had:
            about["previous_due"] = had[item.id]
        kind = domain.ActionItemDueChanged if item.id in had else domain.ActionItemCreated
        events.append((stream, kind, about))
    return events


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
    org_id, doc = principal.org_id, body.model_dump(mode="json", exclude={"updated_at"})
    digest = _digest(doc)
    # the key names the organisation: the tenant filter would only repeat it
    row = session.get(MeetingRow, (org_id, meeting_id), execution_options={SKIP: True})
    if row is not None and row.content_hash == digest:
        if body.updated_at and (row.edited_at is None or body.updated_at > row.edited_at):
            row.edited_at = body.updated_at  # the same content, edited again: the newer time
        return MeetingStored(id=meeting_id, created=False, changed=False, client_id=row.client_id)
    if row is not None:
        _refuse_stale(row, body)
    values = _values(session, org_id, body, doc, principal.user.id)
    created = row is None and _created(session, org_id, meeting_id, values)
    had: dict[str, str | None] = {}
    if created:  # no items yet: they go with their meeting (ON DELETE CASCADE)
        _add_items(session, org_id, body, {})
    else:  # stored before, or by another request a moment ago: an update
        if row is None:
            row = session.get(MeetingRow, (org_id, meeting_id), populate_existing=True)
        for name, value in values.items():
            setattr(row, name, value)
        session.flush()
        had = _replace_items(session, org_id, body)
    action = "meeting.create" if created else "meeting.update"
    # inserted at once (one statement): an ORM add would cost a unit-of-work flush
    audit.record_many(
        session, [audit.event(principal, action, target_type="meeting", target_id=meeting_id)]
    )
    client_id = values["client_id"]
    data = {"created": created, "content_hash": digest, "client_id": client_id}
    data["action_items"] = len(body.action_items)
    stream = stream_of("meeting", meeting_id)
    events = [(stream, domain.MeetingStored, data), *_item_events(stream, body, had)]
    append_many(session, principal, events)
    return MeetingStored(id=meeting_id, created=created, changed=True, client_id=client_id)


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
