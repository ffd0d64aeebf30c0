"""/v1/users and /v1/me: people in the organisation (list, get, invite, deactivate)."""

from __future__ import annotations

from typing import Annotated, Literal

import hashlib
import json

from fastapi import APIRouter, Header, Query
from qylon_cli.schemas import (
    BulkOutcome,
    BulkRequest,
    BulkResult,
    GroupInfo,
    GroupPage,
    User,
    UserInvite,
    UserPage,
    Whoami,
)
from sqlalchemy import func, or_, select

from .. import audit
from ..deps import Allowed, Authenticated
from ..errors import ERROR_RESPONSES, ApiError, not_found
from ..models import Group, GroupMember, IdempotencyKey, Invitation, Organisation
from ..models import User as UserRow
from ..models import now
from ..permissions import rank
from ..provisioning import Provisioner, Refused
from .api_keys import out as key_out
from .pages import Offset, page

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)

UserLimit = Annotated[int, Query(ge=1, le=1000, description="At most this many users.")]


def out(row: UserRow) -> User:
    return User.model_validate(row, from_attributes=True)


def get_user(session, user_id: str) -> UserRow:
    row = session.get(UserRow, user_id) if len(user_id) <= 36 else None
    if row is None:
        raise not_found("User")
    return row


@router.get("/v1/me", response_model=Whoami)
def whoami(ctx: Authenticated) -> Whoami:
    """Who this API key belongs to, and what it may do."""
    p = ctx.principal
    org = ctx.session.get(Organisation, p.org_id)
    return Whoami(
        user=out(p.user), key=key_out(p.key), organisation={"id": org.id, "name": org.name},
        permissions=sorted(p.permissions),
    )


@router.get("/v1/users", response_model=UserPage)
def list_users(
    ctx: Allowed("users:read"),
    q: Annotated[str | None, Query(max_length=200, description="Words in the email or name.")] = None,
    status: Literal["invited", "active", "deactivated"] | None = None,
    limit: UserLimit = 50,
    offset: Offset = 0,
    after: Annotated[str | None, Query(max_length=320, description=(
        "Only users whose email sorts after this one: pass the last email of a page to get the next "
        "(each page then costs the same however deep; `total` is then null)."))] = None,
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
    rows, total = page(ctx.session, stmt, limit=limit, offset=offset, order_by=[UserRow.email],
                       after=UserRow.email > after.strip().lower() if after is not None else None)
    return UserPage(items=[out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/v1/groups", response_model=GroupPage)
def list_groups(ctx: Allowed("users:read"), limit: UserLimit = 1000, offset: Offset = 0) -> GroupPage:
    """List groups by name, with how many users each holds (SCIM and imports make them)."""
    s = ctx.session
    total = s.scalar(select(func.count()).select_from(Group)) or 0
    members = (select(GroupMember.group_id, func.count().label("n")).group_by(GroupMember.group_id).subquery())
    rows = s.execute(select(Group, func.coalesce(members.c.n, 0)).outerjoin(members, members.c.group_id == Group.id)
                     .order_by(Group.name_key).limit(limit).offset(offset))
    items = [GroupInfo(id=g.id, name=g.display_name, external_id=g.external_id, members=n, created_at=g.created_at)
             for g, n in rows]
    return GroupPage(items=items, total=total)


@router.post("/v1/users/bulk", response_model=BulkResult)
def bulk_users(
    body: BulkRequest,
    ctx: Allowed("users:write"),
    idempotency_key: Annotated[str, Header(min_length=8, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$",
                                           description="One per batch: a repeated key returns the stored answer and changes nothing.")],
) -> BulkResult:
    """Create, update, deactivate or reactivate up to 1,000 users in one transaction.

    The items are applied in order under the provisioning rules (unique emails, roles,
    managers by email without loops, never yourself or the last owner); if any item is
    refused, nothing in the batch changes and the error names the item."""
    s = ctx.session
    digest = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    stored = s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == idempotency_key))
    if stored is not None:
        if stored.request_hash != digest:
            raise ApiError(409, "This Idempotency-Key was used for a different batch.", code="idempotency_key_reused",
                           hint="Use a new key for each distinct batch.")
        return BulkResult.model_validate({**stored.response, "replayed": True})
    try:
        outcomes = Provisioner(s, ctx.principal, via="bulk", create_groups=body.create_groups).apply(body.items)
    except Refused as exc:
        raise ApiError(exc.status, exc.message, code=exc.code, hint=exc.hint) from None
    results = [
        BulkOutcome(index=i, email=o.user.email, outcome=o.outcome, user_id=o.user.id, changed=o.changed)
        for i, o in enumerate(outcomes)
    ]
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    result = BulkResult(results=results, counts=counts)
    s.add(IdempotencyKey(key=idempotency_key, request_hash=digest, response=result.model_dump(mode="json")))
    return result


@router.get("/v1/users/{user_id}", response_model=User)
def read_user(user_id: str, ctx: Allowed("users:read")) -> User:
    """One user."""
    return out(get_user(ctx.session, user_id))


@router.post("/v1/users", status_code=201, response_model=User)
def invite_user(body: UserInvite, ctx: Allowed("users:write")) -> User:
    """Invite a user: they become active the first time one of their keys is used."""
    s, me = ctx.session, ctx.principal.user
    if rank(body.role) > rank(me.role):
        raise ApiError(403, f"A {me.role} cannot invite a user as {body.role}.")
    email = body.email.strip().lower()
    if s.scalar(select(UserRow.id).where(UserRow.email == email)):
        raise ApiError(409, f"A user with email {email} already exists.", code="conflict")
    fields = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in body.model_dump().items()}
    if fields["manager_id"]:
        get_user(s, fields["manager_id"])
    if fields["external_id"] and s.scalar(select(UserRow.id).where(UserRow.external_id == fields["external_id"])):
        raise ApiError(409, f"A user with external id {fields['external_id']} already exists.", code="conflict")
    row = UserRow(**{**fields, "email": email}, status="invited")
    s.add(row)
    s.flush()
    s.add(Invitation(user_id=row.id, email=email, invited_by=me.id, via="api"))
    audit.record(s, ctx.principal, "user.invite", target_type="user", target_id=row.id, detail={"email": email, "role": body.role})
    return out(row)


@router.post("/v1/users/{user_id}/deactivate", response_model=User)
def deactivate_user(user_id: str, ctx: Allowed("users:write")) -> User:
    """Deactivate a user: their API keys stop working at once (never yourself, nor the last owner)."""
    return _provision(ctx, get_user(ctx.session, user_id), "deactivate")


@router.post("/v1/users/{user_id}/reactivate", response_model=User)
def reactivate_user(user_id: str, ctx: Allowed("users:write")) -> User:
    """Reactivate a deactivated user: their unrevoked API keys work again."""
    return _provision(ctx, get_user(ctx.session, user_id), "reactivate")


def _provision(ctx, row: UserRow, change: str) -> User:
    """One change through the provisioning rules (the same as bulk and SCIM)."""
    try:
        provisioner = Provisioner(ctx.session, ctx.principal, via="api")
        getattr(provisioner, change)(row)
        provisioner.finish()
    except Refused as exc:
        raise ApiError(exc.status, exc.message, code=exc.code, hint=exc.hint) from None
    return out(row)
