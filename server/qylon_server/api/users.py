"""/v1/users and /v1/me: people in the organisation (list, get, invite, change,
deactivate, reactivate). Groups are ``groups.py``'s."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from pydantic import Field
from sqlalchemy import func, or_, select

from qylon_cli.schemas import (
    BulkRequest,
    BulkResult,
    BulkUserFields,
    Phone,
    TimeZone,
    User,
    UserInvite,
    UserPage,
    Whoami,
)

from ..deps import Allowed, Authenticated
from ..errors import ERROR_RESPONSES
from ..models import Organisation
from ..models import User as UserRow
from ..services import users
from ..services.rows import get_or_404
from .api_keys import out as key_out
from .pages import Offset, page

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)


class UserCreate(UserInvite):
    """``UserInvite`` with the rest of a user's fields, as a bulk item names them: the
    manager by email (``manager_email``, or ``manager_id``), groups by name (they must
    exist), location, team, phone, start date and custom attributes."""

    manager_email: str | None = Field(None, max_length=320, description="The manager, by email.")
    location: str | None = Field(None, max_length=200)
    start_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    phone: Phone = None
    team: str | None = Field(None, max_length=200)
    time_zone: TimeZone = None
    groups: list[str] | None = Field(None, max_length=100, description="Names of existing groups.")
    attributes: dict[str, str] | None = Field(None, description="Custom attributes.")


UserLimit = Annotated[int, Query(ge=1, le=1000, description="At most this many users.")]


def out(row: UserRow) -> User:
    return User.model_validate(row, from_attributes=True)


def get_user(session, user_id: str) -> UserRow:
    return get_or_404(session, UserRow, user_id, what="User")


@router.get("/v1/me", response_model=Whoami)
def whoami(ctx: Authenticated) -> Whoami:
    """Who this API key belongs to, and what it may do."""
    p = ctx.principal
    org = ctx.session.get(Organisation, p.org_id)
    return Whoami(
        user=out(p.user),
        key=key_out(p.key),
        organisation={"id": org.id, "name": org.name},
        permissions=sorted(p.permissions),
    )


@router.get("/v1/users", response_model=UserPage)
def list_users(
    ctx: Allowed("users:read"),
    q: Annotated[
        str | None, Query(max_length=200, description="Words in the email or name.")
    ] = None,
    status: Literal["invited", "active", "deactivated"] | None = None,
    limit: UserLimit = 50,
    offset: Offset = 0,
    after: Annotated[
        str | None,
        Query(
            max_length=320,
            description=(
                "Only users whose email sorts after this one: pass the last email of a page to get the next "
                "(each page then costs the same however deep; `total` is then null)."
            ),
        ),
    ] = None,
) -> UserPage:
    """List users by email."""
    stmt = select(UserRow)
    if status:
        stmt = stmt.where(UserRow.status == status)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(
                UserRow.email.like(like),
                func.lower(func.coalesce(UserRow.given_name, "")).like(like),
                func.lower(func.coalesce(UserRow.family_name, "")).like(like),
                func.lower(func.coalesce(UserRow.display_name, "")).like(like),
            )
        )
    rows, total = page(
        ctx.session,
        stmt,
        limit=limit,
        offset=offset,
        order_by=[UserRow.email],
        after=UserRow.email > after.strip().lower() if after is not None else None,
    )
    return UserPage(items=[out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/v1/users/bulk", response_model=BulkResult)
def bulk_users(
    body: BulkRequest,
    ctx: Allowed("users:write"),
    idempotency_key: Annotated[
        str,
        Header(
            min_length=8,
            max_length=200,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="One per batch: a repeated key returns the stored answer and changes nothing.",
        ),
    ],
) -> BulkResult:
    """Create, update, deactivate or reactivate up to 1,000 users in one transaction.

    The items are applied in order under the provisioning rules (unique emails, roles,
    managers by email without loops, never yourself or the last owner); if any item is
    refused, nothing in the batch changes and the error names the item."""
    return users.bulk(ctx.session, ctx.principal, request=body, idempotency_key=idempotency_key)


@router.get("/v1/users/{user_id}", response_model=User)
def read_user(user_id: str, ctx: Allowed("users:read")) -> User:
    """One user."""
    return out(get_user(ctx.session, user_id))


@router.post("/v1/users", status_code=201, response_model=User)
def invite_user(body: UserCreate, ctx: Allowed("users:write")) -> User:
    """Invite a user: they become active the first time one of their keys is used."""
    return out(users.invite(ctx.session, ctx.principal, invite=body))


@router.patch("/v1/users/{user_id}", response_model=User)
def update_user(user_id: str, body: BulkUserFields, ctx: Allowed("users:write")) -> User:
    """Change the fields given, under the bulk import's rules (ranks, managers, groups that
    exist); a field sent as null is cleared, one left out stays as it is. One audit
    event (``user.update``) when anything changed."""
    user = get_user(ctx.session, user_id)
    return out(users.update(ctx.session, ctx.principal, user=user, fields=body).user)


@router.post("/v1/users/{user_id}/deactivate", response_model=User)
def deactivate_user(user_id: str, ctx: Allowed("users:write")) -> User:
    """Deactivate a user: their API keys stop working at once (never yourself, nor the last owner)."""
    return out(
        users.change(
            ctx.session, ctx.principal, user=get_user(ctx.session, user_id), change="deactivate"
        )
    )


@router.post("/v1/users/{user_id}/reactivate", response_model=User)
def reactivate_user(user_id: str, ctx: Allowed("users:write")) -> User:
    """Reactivate a deactivated user: their unrevoked API keys work again."""
    return out(
        users.change(
            ctx.session, ctx.principal, user=get_user(ctx.session, user_id), change="reactivate"
        )
    )
