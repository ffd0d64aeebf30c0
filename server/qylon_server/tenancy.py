"""Tenant-scoped sessions outside a request: workflow steps and background work.

A request opens a session that belongs to no organisation, authenticates, then moves
it to the key's organisation with ``set_org`` (deps.context). Work done later opens its
session the same way, with the organisation (and actor) recorded when it was started:

    with acting_as(db, org_id=run.org_id, user_id=run.user_id, key_id=run.key_id) as ctx:
        services.users.change(ctx.session, ctx.principal, user=..., change="deactivate")

A session whose organisation was never set fails loudly: an ORM query or new row on an
organisation's table raises ``TenantNotSet`` (both engines); on PostgreSQL row-level
security also hides every row from raw SQL and refuses raw inserts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from .db import Database
from .deps import Ctx, principal_for


@contextmanager
def org_session(db: Database, org_id: str) -> Iterator[Session]:
    """A session (one transaction, committed on success) of ``org_id``, as a request's is
    once moved there: its transaction starts in the organisation (on PostgreSQL the one
    round trip of settings that starts every transaction names it; moving it after
    took one more, at every workflow step)."""
    if not org_id:
        raise ValueError("org_session needs an organisation id")
    with db.session(org_id) as session:
        yield session


@contextmanager
def acting_as(db: Database, *, org_id: str, user_id: str, key_id: str) -> Iterator[Ctx]:
    """``org_session`` with the actor rebuilt (``deps.principal_for``): a request's ``Ctx``."""
    with org_session(db, org_id) as session:
        yield Ctx(session, principal_for(session, user_id, key_id))
