"""API keys: the rules for creating, rotating and revoking them (``keys.py`` holds the
secrets and rows; this module decides who may do what).

- a rotated key keeps its data rights during its grace period, never key management;
- nobody receives a secret for someone of equal or higher rank;
- at most ``cap`` active keys per user;
- a key never grants more than the caller's key, nor more than the holder's role allows.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .. import keys
from ..errors import ApiError
from ..models import ApiKey, User, now
from ..permissions import rank, scopes_allowed
from . import audit
from .rows import get_or_404


def find(session: Session, key_id: str) -> ApiKey:
    return get_or_404(session, ApiKey, key_id, what="API key")


def mine_or_admin(session: Session, principal, key_id: str) -> ApiKey:
    """A key the caller may see or revoke: their own, or anyone's with api_keys:admin."""
    row = find(session, key_id)
    if row.user_id != principal.user.id and not principal.can("api_keys:admin"):
        raise ApiError(
            403, "This key belongs to someone else; managing it needs the admin scope and role."
        )
    return row


def _may_manage_keys(principal) -> None:
    """A key that has been rotated keeps its data rights until it expires, never key management:
    whoever stole the old secret must not be able to outlive the rotation."""
    if principal.key.rotated_to_id is not None:
        raise ApiError(
            403,
            "This key has been rotated: during its grace period it may read and write data, "
            "but not create, rotate or revoke keys.",
            hint="Use the new key.",
        )


def _may_hold_secret_of(principal, target: User) -> None:
    """Nobody receives a secret for someone of equal or higher rank: making or rotating
    another user's key needs api_keys:admin and a strictly higher role (an owner's keys
    are made and rotated only by that owner)."""
    me = principal.user
    if target.id == me.id:
        return
    if not principal.can("api_keys:admin"):
        raise ApiError(
            403, "Creating or rotating other users' keys needs the admin scope and role."
        )
    if rank(target.role) >= rank(me.role):
        raise ApiError(
            403,
            f"A {me.role} cannot create or rotate the keys of a {target.role}: "
            "only someone of higher rank, or the user themself, may.",
            hint="Ask them to create their own key (qylon auth keys create).",
        )


def _under_the_cap(session: Session, target: User, cap: int) -> None:
    """At most ``cap`` active keys per user (keys in a rotation's grace period do not count)."""
    at = now()
    active = (
        session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(
                ApiKey.user_id == target.id,
                ApiKey.revoked_at.is_(None),
                ApiKey.rotated_to_id.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > at),
            )
        )
        or 0
    )
    if active >= cap:
        raise ApiError(
            409,
            f"{target.email} already has {active} active API keys (the most allowed: {cap}).",
            code="too_many_keys",
            hint="Revoke keys no longer used (qylon auth keys revoke).",
        )


def _check_scopes(principal, target: User, scopes: list[str]) -> None:
    mine = set(principal.key.scopes)
    if "write" in mine:  # and a worker's key (docs/workers.md): within the role, like write
        mine |= {"read", "transcribe"}
    wanted = set(scopes)
    if "admin" not in mine and not wanted <= mine:
        raise ApiError(
            403, f"A key with scopes {sorted(mine)} cannot create one with {sorted(wanted)}."
        )
    beyond = wanted - scopes_allowed(target.role)
    if beyond:
        raise ApiError(
            403, f"A {target.role} cannot hold keys with scope {', '.join(sorted(beyond))}."
        )


def create(
    session: Session,
    principal,
    *,
    user_id: str | None,
    name: str,
    scopes: list[str],
    expires_in_days: int | None,
    pepper: bytes,
    cap: int,
) -> keys.NewKey:
    """A key for the caller, or (api_keys:admin) for a user of lower rank."""
    me = principal.user
    _may_manage_keys(principal)
    target = me
    if user_id and user_id != me.id:
        if not principal.can("api_keys:admin"):
            raise ApiError(403, "Creating keys for other users needs the admin scope and role.")
        target = get_or_404(session, User, user_id, what="User")
        _may_hold_secret_of(principal, target)
        if target.status == "deactivated":
            raise ApiError(409, "That user is deactivated.", code="conflict")
    _check_scopes(principal, target, scopes)
    _under_the_cap(session, target, cap)
    expires = now() + timedelta(days=expires_in_days) if expires_in_days else None
    new = keys.create(
        session, pepper=pepper, user_id=target.id, name=name, scopes=scopes, expires_at=expires
    )
    audit.record(
        session,
        principal,
        "api_key.create",
        target_type="api_key",
        target_id=new.row.id,
        detail={"user_id": target.id, "scopes": sorted(scopes), "prefix": new.row.prefix},
    )
    return new


def rotate(
    session: Session, principal, *, key_id: str, grace_seconds: int, pepper: bytes
) -> keys.NewKey:
    """A new secret; the old one keeps working for ``grace_seconds`` (0: stops now)."""
    _may_manage_keys(principal)
    row = mine_or_admin(session, principal, key_id)
    _may_hold_secret_of(principal, session.get(User, row.user_id))
    if not keys.is_usable(row):
        raise ApiError(409, "Only an active key can be rotated.", code="conflict")
    new = keys.rotate(session, row, pepper=pepper, grace=timedelta(seconds=grace_seconds))
    audit.record(
        session,
        principal,
        "api_key.rotate",
        target_type="api_key",
        target_id=row.id,
        detail={"new_key_id": new.row.id, "grace_seconds": grace_seconds},
    )
    return new


def revoke(session: Session, principal, *, key_id: str) -> ApiKey:
    """The key stops working at once."""
    _may_manage_keys(principal)
    row = mine_or_admin(session, principal, key_id)
    if row.revoked_at is None:
        keys.revoke(row)
        audit.record(session, principal, "api_key.revoke", target_type="api_key", target_id=row.id)
    return row
