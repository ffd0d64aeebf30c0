"""/v1/api-keys: create, list, get, rotate (with a grace period) and revoke keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from qylon_cli.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyRotate
from sqlalchemy import func, or_, select

from .. import keys
from ..services import audit
from ..deps import Allowed, Ctx
from ..errors import ERROR_RESPONSES, ApiError
from ..services.rows import get_or_404
from ..models import ApiKey as KeyRow
from ..models import User as UserRow
from ..models import now
from ..permissions import rank, scopes_allowed

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"], responses=ERROR_RESPONSES)


def status(row: KeyRow) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now():
        return "expired"
    return "active"


def out(row: KeyRow) -> ApiKey:
    return ApiKey(
        id=row.id, name=row.name, prefix=row.prefix, user_id=row.user_id, scopes=list(row.scopes),
        created_at=row.created_at, expires_at=row.expires_at, last_used_at=row.last_used_at,
        revoked_at=row.revoked_at, rotated_from_id=row.rotated_from_id, rotated_to_id=row.rotated_to_id,
        status=status(row),
    )


def created(new: keys.NewKey) -> ApiKeyCreated:
    return ApiKeyCreated(**out(new.row).model_dump(), token=new.token)


def _find(ctx: Ctx, key_id: str) -> KeyRow:
    return get_or_404(ctx.session, KeyRow, key_id, what="API key")


def _mine_or_admin(ctx: Ctx, key_id: str) -> KeyRow:
    """A key the caller may see or revoke: their own, or anyone's with api_keys:admin."""
    row = _find(ctx, key_id)
    if row.user_id != ctx.principal.user.id and not ctx.principal.can("api_keys:admin"):
        raise ApiError(403, "This key belongs to someone else; managing it needs the admin scope and role.")
    return row


def _may_manage_keys(ctx: Ctx) -> None:
    """A key that has been rotated keeps its data rights until it expires, never key management:
    whoever stole the old secret must not be able to outlive the rotation."""
    if ctx.principal.key.rotated_to_id is not None:
        raise ApiError(403, "This key has been rotated: during its grace period it may read and write data, "
                            "but not create, rotate or revoke keys.", hint="Use the new key.")


def _may_hold_secret_of(ctx: Ctx, target: UserRow) -> None:
    """Nobody receives a secret for someone of equal or higher rank: making or rotating
    another user's key needs api_keys:admin and a strictly higher role (an owner's keys
    are made and rotated only by that owner)."""
    me = ctx.principal.user
    if target.id == me.id:
        return
    if not ctx.principal.can("api_keys:admin"):
        raise ApiError(403, "Creating or rotating other users' keys needs the admin scope and role.")
    if rank(target.role) >= rank(me.role):
        raise ApiError(403, f"A {me.role} cannot create or rotate the keys of a {target.role}: "
                            "only someone of higher rank, or the user themself, may.",
                       hint="Ask them to create their own key (qylon auth keys create).")


def _under_the_cap(ctx: Ctx, target: UserRow, cap: int) -> None:
    """At most ``cap`` active keys per user (keys in a rotation's grace period do not count)."""
    at = now()
    active = ctx.session.scalar(select(func.count()).select_from(KeyRow).where(
        KeyRow.user_id == target.id, KeyRow.revoked_at.is_(None), KeyRow.rotated_to_id.is_(None),
        or_(KeyRow.expires_at.is_(None), KeyRow.expires_at > at))) or 0
    if active >= cap:
        raise ApiError(409, f"{target.email} already has {active} active API keys (the most allowed: {cap}).",
                       code="too_many_keys", hint="Revoke keys no longer used (qylon auth keys revoke).")


def _check_scopes(ctx: Ctx, target: UserRow, scopes: list[str]) -> None:
    mine = set(ctx.principal.key.scopes)
    if "write" in mine:
        mine.add("read")
    wanted = set(scopes)
    if "admin" not in mine and not wanted <= mine:
        raise ApiError(403, f"A key with scopes {sorted(mine)} cannot create one with {sorted(wanted)}.")
    beyond = wanted - scopes_allowed(target.role)
    if beyond:
        raise ApiError(403, f"A {target.role} cannot hold keys with scope {', '.join(sorted(beyond))}.")


@router.post("", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, ctx: Allowed("api_keys:own"), request: Request) -> ApiKeyCreated:
    """Create a key; the secret is in this response only."""
    s, me = ctx.session, ctx.principal.user
    _may_manage_keys(ctx)
    target = me
    if body.user_id and body.user_id != me.id:
        if not ctx.principal.can("api_keys:admin"):
            raise ApiError(403, "Creating keys for other users needs the admin scope and role.")
        target = get_or_404(s, UserRow, body.user_id, what="User")
        _may_hold_secret_of(ctx, target)
        if target.status == "deactivated":
            raise ApiError(409, "That user is deactivated.", code="conflict")
    _check_scopes(ctx, target, body.scopes)
    _under_the_cap(ctx, target, request.app.state.settings.max_keys_per_user)
    expires = now() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    new = keys.create(
        s, pepper=request.app.state.pepper, user_id=target.id, name=body.name, scopes=body.scopes, expires_at=expires
    )
    audit.record(s, ctx.principal, "api_key.create", target_type="api_key", target_id=new.row.id,
                 detail={"user_id": target.id, "scopes": sorted(body.scopes), "prefix": new.row.prefix})
    return created(new)


@router.get("", response_model=list[ApiKey])
def list_keys(
    ctx: Allowed("api_keys:read"),
    user_id: Annotated[str | None, Query(max_length=36, description="Another user's keys (admin).")] = None,
    all_users: Annotated[bool, Query(description="Every user's keys (admin).")] = False,
) -> list[ApiKey]:
    """Your keys (or, for admins, someone else's or everyone's), newest first."""
    stmt = select(KeyRow)
    if all_users or (user_id and user_id != ctx.principal.user.id):
        if not ctx.principal.can("api_keys:admin"):
            raise ApiError(403, "Listing other users' keys needs the admin scope and role.")
        if user_id:
            stmt = stmt.where(KeyRow.user_id == user_id)
    else:
        stmt = stmt.where(KeyRow.user_id == ctx.principal.user.id)
    return [out(r) for r in ctx.session.scalars(stmt.order_by(KeyRow.created_at.desc(), KeyRow.id))]


@router.get("/{key_id}", response_model=ApiKey)
def get_key(key_id: str, ctx: Allowed("api_keys:read")) -> ApiKey:
    """One key (never its secret)."""
    return out(_mine_or_admin(ctx, key_id))


@router.post("/{key_id}/rotate", response_model=ApiKeyCreated)
def rotate_key(key_id: str, body: ApiKeyRotate, ctx: Allowed("api_keys:own"), request: Request) -> ApiKeyCreated:
    """Issue a new secret; the old one keeps working for ``grace_seconds`` (0: stops now)."""
    _may_manage_keys(ctx)
    row = _mine_or_admin(ctx, key_id)
    _may_hold_secret_of(ctx, ctx.session.get(UserRow, row.user_id))
    if not keys.is_usable(row):
        raise ApiError(409, "Only an active key can be rotated.", code="conflict")
    new = keys.rotate(ctx.session, row, pepper=request.app.state.pepper, grace=timedelta(seconds=body.grace_seconds))
    audit.record(ctx.session, ctx.principal, "api_key.rotate", target_type="api_key", target_id=row.id,
                 detail={"new_key_id": new.row.id, "grace_seconds": body.grace_seconds})
    return created(new)


@router.post("/{key_id}/revoke", response_model=ApiKey)
def revoke_key(key_id: str, ctx: Allowed("api_keys:own")) -> ApiKey:
    """Revoke a key: it stops working at once."""
    _may_manage_keys(ctx)
    row = _mine_or_admin(ctx, key_id)
    if row.revoked_at is None:
        keys.revoke(row)
        audit.record(ctx.session, ctx.principal, "api_key.revoke", target_type="api_key", target_id=row.id)
    return out(row)
