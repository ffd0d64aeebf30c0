"""/v1/clients: the firm's clients (create, search, get, update, archive, restore)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, or_, select

from qylon_cli.schemas import Client, ClientCreate, ClientPage, ClientUpdate

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..models import Client as ClientRow
from ..services import clients
from .pages import Limit, Offset, page

router = APIRouter(prefix="/v1/clients", tags=["clients"], responses=ERROR_RESPONSES)


def out(row: ClientRow) -> Client:
    return Client.model_validate(row, from_attributes=True)


@router.post("", status_code=201, response_model=Client)
def create_client(body: ClientCreate, ctx: Allowed("clients:write")) -> Client:
    """Create a client."""
    return out(clients.create(ctx.session, ctx.principal, body=body))


@router.get("", response_model=ClientPage)
def list_clients(
    ctx: Allowed("clients:read"),
    q: Annotated[
        str | None, Query(max_length=200, description="Words in the name, domain or notes.")
    ] = None,
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
    rows, total = page(
        ctx.session,
        stmt,
        limit=limit,
        offset=offset,
        order_by=[func.lower(ClientRow.name), ClientRow.id],
    )
    if tag:  # tags are a JSON list; filtered here to stay portable across SQLite and PostgreSQL
        stmt_all = stmt.order_by(func.lower(ClientRow.name), ClientRow.id)
        tagged = [r for r in ctx.session.scalars(stmt_all) if tag in (r.tags or [])]
        total, rows = len(tagged), tagged[offset : offset + limit]
    return ClientPage(items=[out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{client_id}", response_model=Client)
def get_client(client_id: str, ctx: Allowed("clients:read")) -> Client:
    """One client."""
    return out(clients.get(ctx.session, client_id))


@router.patch("/{client_id}", response_model=Client)
def update_client(client_id: str, body: ClientUpdate, ctx: Allowed("clients:write")) -> Client:
    """Change a client's name, domain, tags or notes."""
    return out(
        clients.change(
            ctx.session, ctx.principal, row=clients.get(ctx.session, client_id), body=body
        )
    )


@router.post("/{client_id}/archive", response_model=Client)
def archive_client(client_id: str, ctx: Allowed("clients:write")) -> Client:
    """Archive a client: hidden from lists by default, kept with its meetings."""
    return out(clients.archive(ctx.session, ctx.principal, row=clients.get(ctx.session, client_id)))


@router.post("/{client_id}/restore", response_model=Client)
def restore_client(client_id: str, ctx: Allowed("clients:write")) -> Client:
    """Bring an archived client back."""
    return out(clients.restore(ctx.session, ctx.principal, row=clients.get(ctx.session, client_id)))
