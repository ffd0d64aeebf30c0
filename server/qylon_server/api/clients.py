"""/v1/clients: the firm's clients (create, search, get, update, archive, restore)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from qylon_cli.schemas import Client, ClientCreate, ClientPage, ClientUpdate
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..deps import Allowed
from ..errors import ERROR_RESPONSES, ApiError, not_found
from ..models import Client as ClientRow
from ..models import Meeting as MeetingRow
from ..models import now
from .pages import Limit, Offset, page

router = APIRouter(prefix="/v1/clients", tags=["clients"], responses=ERROR_RESPONSES)


def out(row: ClientRow) -> Client:
    return Client.model_validate(row, from_attributes=True)


def _get(session, client_id: str) -> ClientRow:
    row = session.get(ClientRow, client_id) if len(client_id) <= 36 else None
    if row is None:
        raise not_found("Client")
    return row


def _tags(tags: list[str]) -> list[str]:
    return sorted({t.strip() for t in tags if t.strip()})


def _link_meetings(session, row: ClientRow) -> None:
    """Meetings that named this client before it existed (or under its new name) get linked."""
    session.execute(
        update(MeetingRow)
        .where(func.lower(MeetingRow.client_name) == row.name.lower(), MeetingRow.client_id.is_(None))
        .values(client_id=row.id)
    )


def _flush_unique(session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ApiError(409, f"A client named {name!r} already exists.", code="conflict") from None


@router.post("", status_code=201, response_model=Client)
def create_client(body: ClientCreate, ctx: Allowed("clients:write")) -> Client:
    """Create a client."""
    s = ctx.session
    name = body.name.strip()
    exists = s.scalar(select(ClientRow.id).where(func.lower(ClientRow.name) == name.lower()))
    if exists:
        raise ApiError(409, f"A client named {name!r} already exists.", code="conflict")
    row = ClientRow(name=name, domain=body.domain, tags=_tags(body.tags), notes=body.notes)
    s.add(row)
    _flush_unique(s, name)
    _link_meetings(s, row)
    audit.record(s, ctx.principal, "client.create", target_type="client", target_id=row.id, detail={"name": name})
    return out(row)


@router.get("", response_model=ClientPage)
def list_clients(
    ctx: Allowed("clients:read"),
    q: Annotated[str | None, Query(max_length=200, description="Words in the name, domain or notes.")] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    status: Literal["active", "archived", "all"] = "active",
    limit: Limit = 50,
    offset: Offset = 0,
) -> ClientPage:
    """List clients, alphabetically, with search and pagination."""
    stmt = select(ClientRow)
    if status != "all":
        stmt = stmt.where(ClientRow.status == status)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(ClientRow.name).like(like),
                func.lower(func.coalesce(ClientRow.domain, "")).like(like),
                func.lower(func.coalesce(ClientRow.notes, "")).like(like),
            )
        )
    rows, total = page(ctx.session, stmt, limit=limit, offset=offset, order_by=[func.lower(ClientRow.name), ClientRow.id])
    if tag:  # tags are a JSON list; filtered here to stay portable across SQLite and PostgreSQL
        stmt_all = stmt.order_by(func.lower(ClientRow.name), ClientRow.id)
        tagged = [r for r in ctx.session.scalars(stmt_all) if tag in (r.tags or [])]
        total, rows = len(tagged), tagged[offset : offset + limit]
    return ClientPage(items=[out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{client_id}", response_model=Client)
def get_client(client_id: str, ctx: Allowed("clients:read")) -> Client:
    """One client."""
    return out(_get(ctx.session, client_id))


@router.patch("/{client_id}", response_model=Client)
def update_client(client_id: str, body: ClientUpdate, ctx: Allowed("clients:write")) -> Client:
    """Change a client's name, domain, tags or notes."""
    s = ctx.session
    row = _get(s, client_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name") is None:
        changes.pop("name", None)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        clash = s.scalar(
            select(ClientRow.id).where(func.lower(ClientRow.name) == changes["name"].lower(), ClientRow.id != row.id)
        )
        if clash:
            raise ApiError(409, f"A client named {changes['name']!r} already exists.", code="conflict")
    if "tags" in changes:
        changes["tags"] = _tags(changes["tags"] or [])
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = now()
    _flush_unique(s, row.name)
    if "name" in changes:
        _link_meetings(s, row)
    audit.record(s, ctx.principal, "client.update", target_type="client", target_id=row.id, detail={"fields": sorted(changes)})
    return out(row)


@router.post("/{client_id}/archive", response_model=Client)
def archive_client(client_id: str, ctx: Allowed("clients:write")) -> Client:
    """Archive a client: hidden from lists by default, kept with its meetings."""
    row = _get(ctx.session, client_id)
    if row.status != "archived":
        row.status, row.archived_at, row.updated_at = "archived", now(), now()
        audit.record(ctx.session, ctx.principal, "client.archive", target_type="client", target_id=row.id)
    return out(row)


@router.post("/{client_id}/restore", response_model=Client)
def restore_client(client_id: str, ctx: Allowed("clients:write")) -> Client:
    """Bring an archived client back."""
    row = _get(ctx.session, client_id)
    if row.status != "active":
        row.status, row.archived_at, row.updated_at = "active", None, now()
        audit.record(ctx.session, ctx.principal, "client.restore", target_type="client", target_id=row.id)
    return out(row)
