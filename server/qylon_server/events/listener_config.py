"""What the event store's listeners read at every append, kept per process.

The listeners (services/experiment_goals.py, workflows/webhooks.py, workflows/event_mail.py)
each read some configuration before they can tell whether an event concerns them: the
experiments' goals in use, the enabled webhook subscriptions, whether anyone wants events
mailed. Read once per transaction, that was four queries an upload (and on PostgreSQL four
round trips under the event table's lock). ``cached(session, key, load)`` keeps ``load()``'s
answer per process and organisation, under the organisation's ``listener_config`` token,
which triggers (migration 0025) replace with a new random value in the same transaction
as any change to that configuration, from any process, through the ORM or plain SQL. A
transaction reads the token once: with its key at authentication (``remember``), else in
one query at the first listener; ``load`` runs only when the token differs from the one
its kept answer was read under.

Why it is right:

- the token is read before what it covers, in the same transaction: on PostgreSQL (read
  committed) the configuration read afterwards is at least as new as the token, so an
  answer is never kept under a token newer than its own (on SQLite one snapshot holds both);
- a change commits with its new token, so a transaction that starts after that commit, in
  any process, reads the new token and loads again;
- a token is random, not a counter: an answer read inside a transaction that changed the
  configuration and then rolled back is kept under a token no committed state will have;
- within a transaction that changes the configuration itself, the token it read before is
  dropped (``forget``, and automatically at a flush that changed a watched row), so its
  listeners read the token, and then the configuration, again.

Kept answers are shared between threads: ``load`` must return immutable values
(frozensets, tuples), never ORM objects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from ..db import SKIP, TenantNotSet
from ..models import (
    Experiment,
    ListenerConfig,
    MailSettings,
    NotificationPrefs,
    WebhookSubscription,
)

T = TypeVar("T")
WATCHED = (WebhookSubscription, Experiment, MailSettings, NotificationPrefs)  # see 0025
LIMIT = 40_000  # kept answers (organisations x keys) before they are all dropped
_TOKEN = "listener_config.token"  # session.info: (transaction, the token it read)
_kept: dict[tuple[str, str], tuple[str | None, Any]] = {}
_lock = threading.Lock()

# The token's column, for authentication's statement to read beside the key (deps.py)
TOKEN_OF_ORG = (
    select(ListenerConfig.token)
    .where(ListenerConfig.org_id == bindparam("org"))
    .scalar_subquery()
    .label("listener_config")
)
_READ = select(ListenerConfig.token).where(ListenerConfig.org_id == bindparam("org"))


def remember(session: Session, token: str | None) -> None:
    """The token this transaction read (in the organisation it belongs to) with another
    statement."""
    session.info[_TOKEN] = (session.get_transaction(), token)


def token(session: Session) -> str | None:
    """The organisation's token as this transaction sees it (None: never changed)."""
    transaction = session.get_transaction()
    memo = session.info.get(_TOKEN)
    if memo is not None and memo[0] is transaction:
        return memo[1]
    org_id = session.info.get("org_id")
    if org_id is None:
        raise TenantNotSet("listener configuration read without an organisation")
    value = session.scalar(_READ, {"org": org_id}, execution_options={SKIP: True})
    session.info[_TOKEN] = (transaction, value)
    return value


def cached(session: Session, key: str, load: Callable[[], T]) -> T:
    """``load()``'s answer for ``session``'s organisation: kept from an earlier
    transaction of this process while the organisation's token is unchanged."""
    org_id = session.info.get("org_id")
    if org_id is None:
        raise TenantNotSet("listener configuration read without an organisation")
    current = token(session)
    found = _kept.get((key, org_id))
    if found is not None and found[0] == current:
        return found[1]
    value = load()
    with _lock:
        if len(_kept) >= LIMIT:
            _kept.clear()
        _kept[(key, org_id)] = (current, value)
    return value


def forget(session: Session) -> None:
    """Read the token again: this transaction has changed the configuration."""
    session.info.pop(_TOKEN, None)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _ctx) -> None:
    """A flush that changed a watched row drops the token this transaction read."""
    if _TOKEN not in session.info:
        return
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, WATCHED):
            forget(session)
            return
