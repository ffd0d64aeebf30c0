"""Request dependencies: the authenticated principal, its session and permission checks.

One session (one transaction) per request: the key is looked up by its hash, the
session is moved to the key's organisation (SET LOCAL app.org_id on PostgreSQL),
and the route runs in that transaction, which commits before the response is sent.

Every request reads its key and user afresh (a revoked key, an expired one or a
deactivated user is refused at the next request). What a process remembers is only
which organisation a key hash belongs to (``KeyOrgs``), which never changes: a request
with a key seen before opens its transaction in that organisation and reads key and
user in one statement, instead of finding the key, moving the session to its
organisation, then reading the user (two round trips fewer on PostgreSQL). That statement
names the organisation itself, for the key and the user, so it skips the session's tenant
filter (``db.SKIP``), whose per-statement cost was a third of the look-up's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from . import keys
from .db import SKIP, TenantNotSet, after_commit, set_org
from .errors import ApiError
from .events import domain, listener_config, store
from .models import ApiKey, User, now
from .permissions import granted


@dataclass
class Principal:
    org_id: str
    user: User
    key: ApiKey
    permissions: set[str] = field(default_factory=set)
    ip: str | None = None
    # Added to the detail of every audit event this principal writes (a workflow step:
    # its run id and step name)
    audit_detail: dict = field(default_factory=dict)

    def can(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass
class Ctx:
    session: Session
    principal: Principal

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once this request's transaction has committed (never on rollback)."""
        after_commit(self.session, callback)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        request.app.state.limiter.check_failure(client_ip(request))
        raise ApiError(
            401,
            "Missing API key.",
            hint="Send `Authorization: Bearer qyl_live_...`; `qylon server init` prints the first key.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


class KeyOrgs:
    """Key hash -> organisation id, for the ``size`` keys used most recently. A key's
    organisation never changes; this holds no secret and grants nothing (the key and its
    user are still read and checked at every request)."""

    def __init__(self, size: int = 10_000):
        self.size, self._orgs, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, digest: str | None) -> str | None:
        if not digest:
            return None
        with self._lock:
            org = self._orgs.get(digest)
            if org is not None:
                self._orgs.move_to_end(digest)
            return org

    def remember(self, digest: str, org_id: str) -> None:
        with self._lock:
            self._orgs[digest] = org_id
            self._orgs.move_to_end(digest)
            while len(self._orgs) > self.size:
                self._orgs.popitem(last=False)


def key_orgs(state) -> KeyOrgs:
    """The app's ``KeyOrgs`` (made at its first request)."""
    orgs = getattr(state, "key_orgs", None)
    if orgs is None:
        orgs = state.key_orgs = KeyOrgs()
    return orgs


def open_session(request: Request, token: str):
    """The request's session: already in the key's organisation when this process has
    seen the key (``KeyOrgs``), else in none until ``authenticate`` finds the key. A GET's
    session is one of reads (``Database.session``)."""
    state = request.app.state
    digest = key_hash(state, token)
    org = key_orgs(state).get(digest)
    return state.db.session(org, key_hash=digest, reads=request.method == "GET")


# The key of a hash and its user, both in the organisation remembered for the hash, and
# the organisation's listener configuration token, which an upload's listeners need
_KEY_AND_USER = (
    select(ApiKey, User, listener_config.TOKEN_OF_ORG)
    .join(User, User.id == ApiKey.user_id)
    .where(
        ApiKey.key_hash == bindparam("digest"),
        ApiKey.org_id == bindparam("org"),
        User.org_id == bindparam("org"),
    )
)


def _key_and_user(state, session: Session, token: str) -> tuple[ApiKey | None, User | None]:
    """The key of ``token`` and its user, with ``session`` moved to their organisation."""
    if not keys.looks_like_key(token):
        return None, None
    # the hash the session was opened with (authenticate): not a second HMAC a request
    digest = session.info.get("key_hash") or keys.hash_token(token, state.pepper)
    org = session.info.get("org_id")
    if org is not None:  # opened in the organisation remembered for this hash: one statement
        found = session.execute(
            _KEY_AND_USER, {"digest": digest, "org": org}, execution_options={SKIP: True}
        ).first()
        if found is None:
            return None, None
        listener_config.remember(session, found[2])
        return found[0], found[1]
    key = keys.find(session, token, state.pepper)
    if key is None:
        return None, None
    set_org(session, key.org_id)
    key_orgs(state).remember(digest, key.org_id)
    return key, session.get(User, key.user_id)


def authenticate(state, session: Session, token: str, ip: str) -> Principal:
    """The principal of a bearer token, in ``session`` (moved to the key's organisation).
    ``session`` is opened with ``key_hash=key_hash(state, token)``, as every caller does:
    that hash is the key row row-level security lets it read, and the key looked up.

    Raises ApiError 401 for a missing, unknown, expired or revoked key or a deactivated
    user, and 429 when the key or the address is over its rate limit."""
    invalid = ApiError(
        401, "Invalid, expired or revoked API key.", headers={"WWW-Authenticate": "Bearer"}
    )
    key, user = _key_and_user(state, session, token)
    if key is None or not keys.is_usable(key):
        state.limiter.check_failure(ip)
        raise invalid
    state.limiter.check(key.id, key.user_id)
    if user is None or user.status == "deactivated":
        state.limiter.check_failure(ip)
        raise invalid
    if user.status == "invited":  # conditional: never undoes a deactivation committed meanwhile
        session.execute(
            update(User).where(User.id == user.id, User.status == "invited").values(status="active")
        )
    keys.touch(session, key)
    principal = _principal(key, user, ip)
    _signed_in(session, principal)
    return principal


def _signed_in(session: Session, principal: Principal) -> None:
    """Append ``user.signed_in`` at a person's first authenticated request of a UTC day
    (engagement counts it). The conditional update lets one request of that day through
    however many run at once; a request that fails rolls both back, and the next one
    records the day."""
    user, today = principal.user, now().date()
    if user.signed_in_on is not None and user.signed_in_on >= today:
        return
    first = session.execute(
        update(User)
        .where(User.id == user.id, or_(User.signed_in_on.is_(None), User.signed_in_on < today))
        .values(signed_in_on=today, updated_at=User.updated_at)  # not a change of theirs
        .execution_options(synchronize_session=False)
    )
    if first.rowcount == 1:
        store.append(
            session,
            principal,
            f"user:{user.id}",
            domain.UserSignedIn,
            {"key_id": principal.key.id, "day": today.isoformat()},
        )


def _principal(key: ApiKey, user: User, ip: str | None) -> Principal:
    return Principal(
        org_id=key.org_id,
        user=user,
        key=key,
        permissions=granted(user.role, list(key.scopes)),
        ip=ip,
    )


class ActorNotFound(LookupError):
    """``principal_for`` found no such user and key in the session's organisation."""


# An actor's key and user, both in the session's organisation (named: no tenant filter)
_ACTOR = (
    select(ApiKey, User)
    .join(User, User.id == ApiKey.user_id)
    .where(
        ApiKey.id == bindparam("key_id"),
        User.id == bindparam("user_id"),
        ApiKey.org_id == bindparam("org"),
        User.org_id == bindparam("org"),
    )
)
_ACTOR_AND_ROW: dict[type, Any] = {}  # an organisation's table -> _ACTOR with its row


def principal_for(
    session: Session, user_id: str, key_id: str, *, ip: str | None = None
) -> Principal:
    """Rebuild the actor of earlier work (a workflow step, a background job) from the ids a
    request recorded, in ``session``, which must already belong to the organisation
    (``set_org`` or ``tenancy.org_session``): the Provisioner's rank checks and audit
    events then work as in the request. The key is not checked for expiry or revocation
    (the work was authorised when it was started); a user since deactivated, a key of
    another user or rows of another organisation raise ActorNotFound."""
    return _actor(session, _ACTOR, user_id, key_id, ip)[0]


def principal_with(session: Session, user_id: str, key_id: str, cls: type, ident: str):
    """``principal_for`` and the row of ``cls`` (an organisation's table) whose ``id`` is
    ``ident`` (None: no such row), read in the same statement: a workflow step needs its
    actor and its run's row, in one round trip."""
    stmt = _ACTOR_AND_ROW.get(cls)
    if stmt is None:
        stmt = _ACTOR_AND_ROW[cls] = _ACTOR.add_columns(cls).outerjoin(
            cls, (cls.id == bindparam("ident")) & (cls.org_id == bindparam("org"))
        )
    return _actor(session, stmt, user_id, key_id, None, ident=ident)


def _actor(session: Session, stmt, user_id: str, key_id: str, ip: str | None, **more):
    """``stmt``'s first row (key, user, ...) as (principal, ...): one round trip, at every
    workflow step."""
    org_id = session.info.get("org_id")
    if org_id is None:
        raise TenantNotSet("an actor looked up without an organisation")
    found = session.execute(
        stmt,
        {"key_id": key_id, "user_id": user_id, "org": org_id, **more},
        execution_options={SKIP: True},
    ).first()
    key, user = (found[0], found[1]) if found is not None else (None, None)
    if key is None or user.status == "deactivated":
        raise ActorNotFound(f"no active user {user_id} with key {key_id} in this organisation")
    return (_principal(key, user, ip), *found[2:])


def key_hash(state, token: str) -> str | None:
    """The hash a session needs to read this token's key row (row-level security)."""
    return keys.hash_token(token, state.pepper) if keys.looks_like_key(token) else None


def context(request: Request) -> Iterator[Ctx]:
    state = request.app.state
    token = bearer_token(request)
    with open_session(request, token) as session:
        yield Ctx(session, authenticate(state, session, token, client_ip(request)))


def require(permission: str):
    """A check that ``ctx``'s principal has ``permission`` (403 otherwise)."""

    def check(ctx: Annotated[Ctx, Depends(context, scope="function")]) -> Ctx:
        if not ctx.principal.can(permission):
            raise ApiError(
                403,
                f"This API key may not do that (needs {permission}).",
                hint="Use a key with the right scope, or ask an admin for a role that allows it.",
            )
        return ctx

    return check


def Allowed(permission: str):
    """The route's ``Ctx``, checked for ``permission``. The check is a coroutine: it does
    no I/O, and a plain function would cost each request one more trip through the
    thread pool."""
    sync = require(permission)

    async def check(ctx: Annotated[Ctx, Depends(context, scope="function")]) -> Ctx:
        return sync(ctx)

    return Annotated[Ctx, Depends(check, scope="function")]


Authenticated = Annotated[Ctx, Depends(context, scope="function")]
