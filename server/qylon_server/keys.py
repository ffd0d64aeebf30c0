"""API keys: ``qyl_live_<id8>_<secret>``, stored only as an HMAC-SHA256 hash.

The visible prefix (``qyl_live_<id8>``) identifies a key in listings and logs; the
secret part is shown once, when the key is created or rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import ApiKey, now

KEY_PREFIX = "qyl_live_"
# scim: SCIM provisioning (issue 7); transcribe: transcription workers (docs/workers.md)
SCOPES = ("read", "write", "admin", "scim", "transcribe")


@dataclass
class NewKey:
    row: ApiKey
    token: str  # shown once


def hash_token(token: str, pepper: bytes) -> str:
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


def generate() -> tuple[str, str]:
    """(prefix, token): prefix is what people see, token what they send."""
    prefix = KEY_PREFIX + secrets.token_hex(4)
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX) and len(token) > len(KEY_PREFIX) + 20


def create(
    session: Session,
    *,
    pepper: bytes,
    user_id: str,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    rotated_from_id: str | None = None,
) -> NewKey:
    prefix, token = generate()
    row = ApiKey(
        user_id=user_id,
        name=name,
        prefix=prefix,
        key_hash=hash_token(token, pepper),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        rotated_from_id=rotated_from_id,
    )
    session.add(row)
    session.flush()
    return NewKey(row, token)


def is_usable(key: ApiKey, at: datetime | None = None) -> bool:
    at = at or now()
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > at)


def rotate(session: Session, key: ApiKey, *, pepper: bytes, grace: timedelta) -> NewKey:
    """Issue a new secret for the same user, name and scopes; the old one works for ``grace``."""
    new = create(
        session,
        pepper=pepper,
        user_id=key.user_id,
        name=key.name,
        scopes=list(key.scopes),
        expires_at=key.expires_at,
        rotated_from_id=key.id,
    )
    ends = now() + grace
    if grace <= timedelta(0):
        key.revoked_at = now()
    elif key.expires_at is None or key.expires_at > ends:
        key.expires_at = ends
    key.rotated_to_id = new.row.id
    return new


def revoke(key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = now()


def find(session: Session, token: str, pepper: bytes) -> ApiKey | None:
    """Find a key by its token across organisations (the session carries its hash for RLS)."""
    digest = hash_token(token, pepper)
    return session.scalars(
        select(ApiKey).where(ApiKey.key_hash == digest),
        execution_options={"skip_tenant_filter": True},
    ).first()


def touch(session: Session, key: ApiKey, *, every_s: int = 60) -> None:
    """Record last use, at most once a minute per key (saves a write per request)."""
    at = now()
    if key.last_used_at is None or (at - key.last_used_at).total_seconds() >= every_s:
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=at))
