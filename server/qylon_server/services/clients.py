"""Clients: create, update, archive and restore, under the rules (a name is unique in the
organisation, case-insensitively; meetings that named a client are linked to it)."""

from __future__ import annotations

import functools

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qylon_cli.schemas import Client as ClientOut
from qylon_cli.schemas import ClientCreate, ClientUpdate

from ..errors import ApiError
from ..events import append, domain, stream_of
from ..models import Client, now
from ..models import Meeting as MeetingRow
from . import audit
from .rows import get_or_404

_TABLE = Client.__table__
_NAMES = tuple(ClientOut.model_fields)  # the wire format's fields, each a column
_SHOWN = [_TABLE.c[name] for name in _NAMES]


def listing(
    session: Session,
    org_id: str,
    *,
    q: str | None = None,
    tag: str | None = None,
    status: str = "active",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """One page of the organisation's clients, alphabetically, each a dict of the wire
    format's fields, and how many match. ``q``: words in the name, domain or notes;
    ``status``: active, archived or all.

    Core statements that name the organisation themselves, on the session's connection
    (row-level security still applies on PostgreSQL): a list is the most frequent
    request, and loading 50 ORM objects through the tenant filter cost several times
    what the query does."""
    ordered, count, page = _statements(status != "all", bool(q))
    params = {"org": org_id, "status": status, "like": f"%{q.lower()}%" if q else None}
    connection = session.connection()
    if tag:  # tags are a JSON list; filtered here to stay portable across SQLite and PostgreSQL
        rows = connection.execute(ordered, params)
        tagged = [r._asdict() for r in rows if tag in (r.tags or [])]
        return tagged[offset : offset + limit], len(tagged)
    rows = connection.execute(page, {**params, "limit": limit, "offset": offset}).all()
    if not rows:  # past the end (or nothing matches): the total comes from a count
        return [], int(connection.execute(count, params).scalar() or 0)
    total = rows[0].total
    return [{name: row[i] for i, name in enumerate(_NAMES)} for row in rows], int(total)


@functools.cache
def _statements(by_status: bool, by_words: bool):
    """(all matching rows in order, their count, one page of them with the count of all
    in a column ``total``: one round trip rather than two): built once for each kind of
    filter, with the values as parameters. The total is the count as an uncorrelated
    subquery (run once), not ``count(*) OVER ()``: the window made the database read and
    sort every matching row to return 50 (SQLite, 200 clients: 213 -> 98 us a page)."""
    c = _TABLE.c
    where = [c.org_id == bindparam("org")]
    if by_status:
        where.append(c.status == bindparam("status"))
    if by_words:
        like = bindparam("like")
        where.append(
            or_(
                func.lower(c.name).like(like),
                func.lower(func.coalesce(c.domain, "")).like(like),
                func.lower(func.coalesce(c.notes, "")).like(like),
            )
        )
    ordered = select(*_SHOWN).where(*where).order_by(func.lower(c.name), c.id)
    count = select(func.count()).select_from(_TABLE).where(*where)
    page = ordered.add_columns(count.correlate(None).scalar_subquery().label("total"))
    return ordered, count, page.limit(bindparam("limit")).offset(bindparam("offset"))


def get(session: Session, client_id: str) -> Client:
    return get_or_404(session, Client, client_id, what="Client")


def _tags(tags: list[str]) -> list[str]:
    return sorted({t.strip() for t in tags if t.strip()})


def _link_meetings(session, row: Client) -> None:
    """Meetings that named this client before it existed (or under its new name) get linked."""
    session.execute(
        update(MeetingRow)
        .where(
            func.lower(MeetingRow.client_name) == row.name.lower(), MeetingRow.client_id.is_(None)
        )
        .values(client_id=row.id)
    )


def _flush_unique(session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ApiError(409, f"A client named {name!r} already exists.", code="conflict") from None


def create(session: Session, principal, *, body: ClientCreate) -> Client:
    name = body.name.strip()
    exists = session.scalar(select(Client.id).where(func.lower(Client.name) == name.lower()))
    if exists:
        raise ApiError(409, f"A client named {name!r} already exists.", code="conflict")
    row = Client(name=name, domain=body.domain, tags=_tags(body.tags), notes=body.notes)
    session.add(row)
    _flush_unique(session, name)
    _link_meetings(session, row)
    audit.record(
        session,
        principal,
        "client.create",
        target_type="client",
        target_id=row.id,
        detail={"name": name},
    )
    append(
        session,
        principal,
        stream_of("client", row.id),
        domain.ClientCreated,
        {"name": name, "domain": row.domain},
    )
    return row


def change(session: Session, principal, *, row: Client, body: ClientUpdate) -> Client:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name") is None:
        changes.pop("name", None)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        clash = session.scalar(
            select(Client.id).where(
                func.lower(Client.name) == changes["name"].lower(), Client.id != row.id
            )
        )
        if clash:
            raise ApiError(
                409, f"A client named {changes['name']!r} already exists.", code="conflict"
            )
    if "tags" in changes:
        changes["tags"] = _tags(changes["tags"] or [])
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = now()
    _flush_unique(session, row.name)
    if "name" in changes:
        _link_meetings(session, row)
    audit.record(
        session,
        principal,
        "client.update",
        target_type="client",
        target_id=row.id,
        detail={"fields": sorted(changes)},
    )
    return row


def archive(session: Session, principal, *, row: Client) -> Client:
    """Hidden from lists by default, kept with its meetings."""
    if row.status != "archived":
        row.status, row.archived_at, row.updated_at = "archived", now(), now()
        audit.record(session, principal, "client.archive", target_type="client", target_id=row.id)
    return row


def restore(session: Session, principal, *, row: Client) -> Client:
    if row.status != "active":
        row.status, row.archived_at, row.updated_at = "active", None, now()
        audit.record(session, principal, "client.restore", target_type="client", target_id=row.id)
    return row
