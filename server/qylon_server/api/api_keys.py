"""/v1/api-keys: create, list, get, rotate (with a grace period) and revoke keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from qylon_cli.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyRotate

from .. import keys
from ..deps import Allowed
from ..errors import ERROR_RESPONSES, ApiError
from ..models import ApiKey as KeyRow
from ..models import now
from ..services import api_keys

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"], responses=ERROR_RESPONSES)


def status(row: KeyRow) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now():
        return "expired"
    return "active"


def out(row: KeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        user_id=row.user_id,
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        rotated_from_id=row.rotated_from_id,
        rotated_to_id=row.rotated_to_id,
        status=status(row),
    )


def created(new: keys.NewKey) -> ApiKeyCreated:
    return ApiKeyCreated(**out(new.row).model_dump(), token=new.token)


@router.post("", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, ctx: Allowed("api_keys:own"), request: Request) -> ApiKeyCreated:
    """Create a key; the secret is in this response only."""
    state = request.app.state
    return created(
        api_keys.create(
            ctx.session,
            ctx.principal,
            user_id=body.user_id,
            name=body.name,
            scopes=body.scopes,
            expires_in_days=body.expires_in_days,
            pepper=state.pepper,
            cap=state.settings.max_keys_per_user,
        )
    )


@router.get("", response_model=list[ApiKey])
def list_keys(
    ctx: Allowed("api_keys:read"),
    user_id: Annotated[
        str | None, Query(max_length=36, description="Another user's keys (admin).")
    ] = None,
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
    return out(api_keys.mine_or_admin(ctx.session, ctx.principal, key_id))


@router.post("/{key_id}/rotate", response_model=ApiKeyCreated)
def rotate_key(
    key_id: str, body: ApiKeyRotate, ctx: Allowed("api_keys:own"), request: Request
) -> ApiKeyCreated:
    """Issue a new secret; the old one keeps working for ``grace_seconds`` (0: stops now)."""
    return created(
        api_keys.rotate(
            ctx.session,
            ctx.principal,
            key_id=key_id,
            grace_seconds=body.grace_seconds,
            pepper=request.app.state.pepper,
        )
    )


@router.post("/{key_id}/revoke", response_model=ApiKey)
def revoke_key(key_id: str, ctx: Allowed("api_keys:own")) -> ApiKey:
    """Revoke a key: it stops working at once."""
    return out(api_keys.revoke(ctx.session, ctx.principal, key_id=key_id))
