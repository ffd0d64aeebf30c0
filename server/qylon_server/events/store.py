"""The event store: eventsourcing's SQLAlchemy recorder writing through the server's own session.

Events are appended in the caller's transaction (``append``), so they commit or roll back
with the rows they explain. The store is eventsourcing's (``Application``, its mapper and
JSON transcoder, ``eventsourcing_sqlalchemy``'s application recorder); what is ours is thin:

- the table ``qylonevents_events`` (migration 0009) carries the recorder's columns plus
  ``org_id`` and ``correlation_id``; both are stamped from the session on flush, and on
  PostgreSQL ``org_id`` also defaults to the transaction's ``app.org_id``, which row-level
  security checks;
- each event's state holds its metadata (``domain.Event``);
- reads (``read``) filter by organisation themselves, so SQLite is tenant-scoped too;
- ``listen(event_type, callback)``: ``callback(session, event)`` runs after each event of
  that type is saved, in the same transaction (services/experiment_goals.py converts an
  experiment's exposed person this way); what it appends commits or rolls back with it.
  What a listener must read at every append (its configuration) it keeps per process
  with ``listener_config.cached``.

On PostgreSQL an append takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` (so positions commit
in order), held until commit: append last in a transaction, and keep it short. A caller
that also changes rows from its events (a projection) uses ``make``, changes and flushes
them, then ``save``s, so that the lock covers only the insert and the commit.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.models import StoredEventRecord
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import Column, Index, String, bindparam, event, func, insert, select, text
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.orm import Session

from ..db import TenantNotSet
from . import domain

TABLE = "qylonevents_events"
CORRELATION = "events.correlation_id"  # session.info: the correlation id of what it appends
CAUSATION = "events.causation_id"  # session.info: the command or event that caused them
_STAMP = "events.stamp"
_LOCKED = "events.locked"  # the transaction that holds the table lock
LOCK_TIMEOUT = "5s"  # the longest a request's append waits for another transaction's
# session.info: a longer wait for work no one waits on (a workflow step), which a held
# lock should delay, not fail (``lock_timeout``)
LOCK_WAIT = "events.lock_wait"


class QylonEventRecord(StoredEventRecord):
    """The recorder's row, with the organisation and correlation id as columns (to filter on)."""

    __abstract__ = True
    org_id = Column(String(36), nullable=False)
    correlation_id = Column(String(100), nullable=True)
    __table_args__ = (
        Index("stored_aggregate_event_index", "originator_id", "originator_version", unique=True),
    )


class Datastore(SQLAlchemyDatastore):
    base_stored_event_record_cls = QylonEventRecord


_INSERTS: dict[Any, Any] = {}  # events table -> its insert statement, built once


class Recorder(SQLAlchemyApplicationRecorder):
    """The recorder without its own table lock (``save`` takes it, with a time limit,
    once per transaction) and without NOTIFY: nothing here LISTENs, and a NOTIFY makes
    PostgreSQL serialise the commits of every transaction that sent one."""

    def _lock_table(self, session: Session) -> None:
        pass

    def _insert_stored_events(self, session: Session, stored_events, **_kwargs) -> list[int]:
        """One Core insert for the lot, stamped as ``_stamp`` stamps the ORM's rows: the
        ORM's unit of work for these rows cost a workflow step more than the insert.

        It returns no positions (eventsourcing then makes no ``Recording`` of them, which
        nothing here reads): an insert that must return each row's id in order runs once
        per row on SQLite (a workflow step appends two events at its run's start and end),
        where one statement without RETURNING takes them all."""
        org_id = session.info.get("org_id")
        if org_id is None:
            raise TenantNotSet("an event appended without an organisation")
        table = self.events_record_cls.__table__
        rows = [
            {
                "originator_id": e.originator_id,
                "originator_version": e.originator_version,
                "topic": e.topic,
                "state": e.state,
                "org_id": org_id,
                "correlation_id": session.info.get(_STAMP),
            }
            for e in stored_events
        ]
        stmt = _INSERTS.get(table)
        if stmt is None:  # built once, as ``_HEADS``
            stmt = _INSERTS[table] = insert(table)
        session.execute(stmt, rows)
        return []

    def _notify_channel(self, session: Session) -> None:
        pass


class Factory(SQLAlchemyFactory):
    datastore_class = Datastore
    application_recorder_class = Recorder


class VersionClash(IntegrityError):
    """Another transaction appended to the stream at the same version first."""


class Ledger(Application):
    """The server's event-sourced application. Not named "Qylon": eventsourcing reads
    ``NAME_*`` environment keys (here ``QYLONEVENTS_*``) before the env it is given."""

    name = "QylonEvents"


class _EngineOnly:
    """What the recorder is given as its "scoped session": it only asks it for the engine,
    and of the engine only its dialect's name (to lock the table and NOTIFY on
    PostgreSQL). Every write passes the request's session explicitly; reads are ours."""

    def __init__(self, dialect: str):
        self.dialect = SimpleNamespace(name=dialect)

    def get_bind(self, *_a, **_k):
        return self

    def __getattr__(self, name):
        raise RuntimeError("the event store is used through a request's session only")


_pending = threading.local()
_listeners: dict[str, list[Callable[[Session, domain.Event], None]]] = {}
_ledgers: dict[str, Ledger] = {}
_lock = threading.Lock()


def _session_for_factory():  # SQLALCHEMY_SCOPED_SESSION_TOPIC
    return _EngineOnly(_pending.dialect)


def ledger(dialect: str) -> Ledger:
    """The ledger for one SQL dialect (``sqlite``, ``postgresql``): the recorder keeps it."""
    with _lock:
        found = _ledgers.get(dialect)
        if found is None:
            _pending.dialect = dialect
            try:
                found = Ledger(
                    env={
                        "PERSISTENCE_MODULE": f"{__name__}:Factory",
                        "SQLALCHEMY_SCOPED_SESSION_TOPIC": f"{__name__}:_session_for_factory",
                        "CREATE_TABLE": "n",
                        "IS_SNAPSHOTTING_ENABLED": "n",
                        "COMPRESSOR_TOPIC": "",
                        "CIPHER_TOPIC": "",
                    }
                )
            finally:
                _pending.dialect = None
            _ledgers[dialect] = found
        return found


def ledger_for(session: Session) -> Ledger:
    return ledger(session.get_bind().dialect.name)


def record_class(session: Session):
    return ledger_for(session).recorder.events_record_cls


@event.listens_for(Session, "before_flush")
def _stamp(session: Session, _ctx, _instances) -> None:
    """New event rows get the session's organisation and the appender's correlation id."""
    stamp = session.info.get(_STAMP)
    for obj in session.new:
        if isinstance(obj, QylonEventRecord):
            org_id = session.info.get("org_id")
            if org_id is None:
                raise TenantNotSet("an event appended without an organisation")
            obj.org_id = org_id
            obj.correlation_id = stamp


# ------------------------------------------------------------------------------ writing


def correlation_id(session: Session) -> str:
    """The correlation id of this transaction's events: set by a workflow step (its run
    id), else one new id per transaction (a request)."""
    value = session.info.get(CORRELATION)
    if value is None:
        value = session.info[CORRELATION] = f"req-{uuid.uuid4()}"
    return value


def actor_of(principal) -> dict | None:
    """``{"user_id", "key_id"}`` of a principal (a dict is taken as it is; None: the system)."""
    if principal is None or isinstance(principal, dict):
        return principal
    return {"user_id": principal.user.id, "key_id": principal.key.id}


def head(session: Session, originator_id: uuid.UUID) -> int:
    """The stream's last version (0: empty)."""
    rec = record_class(session)
    found = session.scalar(
        select(func.max(rec.originator_version)).where(rec.originator_id == originator_id)
    )
    return int(found or 0)


_HEADS: dict[type, Any] = {}  # record class -> the heads statement, built once


def heads(session: Session, originator_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The last version of each stream that has events, in one query per 500 streams."""
    rec = record_class(session)
    stmt = _HEADS.get(rec)
    if stmt is None:  # built once: SQLAlchemy keeps a statement's cache key on it
        stmt = _HEADS[rec] = (
            select(rec.originator_id, func.max(rec.originator_version))
            .where(rec.originator_id.in_(bindparam("ids", expanding=True)))
            .group_by(rec.originator_id)
        )
    found: dict[uuid.UUID, int] = {}
    for first in range(0, len(originator_ids), 500):
        chunk = originator_ids[first : first + 500]
        found.update(session.execute(stmt, {"ids": chunk}).all())
    return found


def append(
    session: Session,
    principal,
    stream: str,
    cls: type[domain.Event],
    data: dict[str, Any],
    *,
    expected_version: int | None = None,
    correlation: str | None = None,
    causation: str | None = None,
) -> domain.Event:
    """Append one event of ``cls`` to ``stream`` ("kind:id") in ``session``'s transaction.

    ``expected_version``: the stream's version the caller decided on; None takes its head.
    A clash with an append committed meanwhile raises ``VersionClash`` (409)."""
    return append_many(
        session,
        principal,
        [(stream, cls, data)],
        expected_versions={stream: expected_version} if expected_version is not None else None,
        correlation=correlation,
        causation=causation,
    )[0]


def append_many(
    session: Session,
    principal,
    items: Sequence[tuple[str, type[domain.Event], dict[str, Any]]],
    *,
    expected_versions: dict[str, int] | None = None,
    correlation: str | None = None,
    causation: str | None = None,
) -> list[domain.Event]:
    org_id = session.info.get("org_id")
    if org_id is None:
        raise TenantNotSet("events appended without an organisation")
    versions: dict[str, int] = dict(expected_versions or {})
    session.flush()  # the caller's rows first: a clash below is the stream's, not theirs
    if any(stream not in versions for stream, _, _ in items):
        # the lock the append takes anyway, taken before reading the heads: appends that
        # name no version then never clash with one committed meanwhile
        missing = {domain.originator_id(org_id, s): s for s, _, _ in items if s not in versions}
        found = _locked_heads(session, list(missing))
        versions.update({stream: found.get(oid, 0) for oid, stream in missing.items()})
    made = make(
        session, principal, items, versions=versions, correlation=correlation, causation=causation
    )
    save(session, made)
    return made


def make(
    session: Session,
    principal,
    items: Sequence[tuple[str, type[domain.Event], dict[str, Any]]],
    *,
    versions: dict[str, int],
    correlation: str | None = None,
    causation: str | None = None,
) -> list[domain.Event]:
    """The events of ``items``, numbered on from ``versions`` (each stream's version
    before them), not yet saved: a caller that must change rows from them (a projection)
    can do so and flush before ``save``, so that the table lock is held for less."""
    org_id = session.info.get("org_id")
    if org_id is None:
        raise TenantNotSet("events appended without an organisation")
    correlation = correlation or correlation_id(session)
    causation = causation or session.info.get(CAUSATION) or correlation
    actor = actor_of(principal)
    versions = dict(versions)
    made: list[domain.Event] = []
    for stream, cls, data in items:
        versions[stream] += 1
        made.append(
            cls(
                originator_id=domain.originator_id(org_id, stream),
                originator_version=versions[stream],
                timestamp=cls.create_timestamp(),
                event_id=str(uuid.uuid4()),
                stream=stream,
                org_id=org_id,
                actor=actor,
                correlation_id=correlation,
                causation_id=causation,
                data=data,
            )
        )
    return made


def save(session: Session, events: Sequence[domain.Event]) -> None:
    """Write ``events`` (from ``make``) in ``session``'s transaction. A version taken
    meanwhile raises ``VersionClash`` (409)."""
    session.info[_STAMP] = events[0].correlation_id
    try:
        _lock_table(session)
        ledger_for(session).save(*events, session=session)
    except SQLIntegrityError as exc:
        raise VersionClash(
            f"stream {events[0].stream} changed meanwhile "
            f"(version {events[0].originator_version} taken)"
        ) from exc
    finally:
        session.info.pop(_STAMP, None)
    for saved in events:
        for callback in _listeners.get(type(saved).TYPE, ()):
            callback(session, saved)


def listen(event_type: str, callback: Callable[[Session, domain.Event], None]) -> None:
    """Call ``callback(session, event)`` after each ``event_type`` event is saved, within
    the append's transaction (the table lock held on PostgreSQL: keep it to a query or
    two). Registering the same callback twice adds it once. KeyError for an unknown type."""
    domain.topic_of(event_type)
    found = _listeners.setdefault(event_type, [])
    if callback not in found:
        found.append(callback)


def unlisten(event_type: str, callback: Callable[[Session, domain.Event], None]) -> None:
    found = _listeners.get(event_type, [])
    if callback in found:
        found.remove(callback)


# ------------------------------------------------------------------------------ reading


def _locked_heads(session: Session, originator_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """``heads`` read under the table lock (``_lock_table``). On PostgreSQL, where this
    transaction does not hold the lock yet, the lock and the heads query go in one round
    trip: every round trip under the lock holds back every other appender. Under load each
    took 3-4 ms, and an upload held the lock 11 ms for three of them (heads, insert,
    commit), which capped uploads at about 90 a second (docs/benchmarks.md)."""
    transaction = session.get_transaction()
    if (
        session.get_bind().dialect.name != "postgresql"
        or session.info.get(_LOCKED) is transaction
        or len(originator_ids) > 500
    ):
        _lock_table(session)
        return heads(session, originator_ids)
    # literals, as several statements in one go take no parameters: each id is made a
    # UUID again, so nothing but hex digits and dashes reaches the text
    ids = ", ".join(f"'{uuid.UUID(str(i))}'" for i in originator_ids)
    table = record_class(session).__table__.name
    result = session.connection().exec_driver_sql(
        # a first statement that returns a row, so that the cursor stays open for the last
        f"SELECT set_config('lock_timeout', '{lock_timeout(session)}', true); "
        f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE; "
        "SET LOCAL lock_timeout TO DEFAULT; "
        f"SELECT originator_id, max(originator_version) FROM {table} "
        f"WHERE originator_id IN ({ids}) GROUP BY originator_id"
    )
    session.info[_LOCKED] = transaction
    cursor, found = result.cursor, {}
    try:
        while cursor.nextset():
            if cursor.description is not None:
                found = {uuid.UUID(str(oid)): version for oid, version in cursor.fetchall()}
    finally:
        result.close()
    return found


def lock_timeout(session: Session) -> str:
    """How long ``session``'s append waits for the table lock: ``LOCK_TIMEOUT``, or the
    session's own ``LOCK_WAIT``."""
    return session.info.get(LOCK_WAIT) or LOCK_TIMEOUT


def _lock_table(session: Session) -> None:
    """On PostgreSQL, take the table lock that keeps positions committing in order, once
    per transaction, waiting at most ``lock_timeout``: a transaction that holds it too long
    makes a request's append fail (409, retry) rather than hang. One round trip: the lock is held
    until commit, and every statement under it delays every other appender."""
    if session.get_bind().dialect.name != "postgresql":
        return
    transaction = session.get_transaction()
    if session.info.get(_LOCKED) is transaction:
        return
    session.connection().exec_driver_sql(
        f"SET LOCAL lock_timeout = '{lock_timeout(session)}'; "
        f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE; "
        "SET LOCAL lock_timeout TO DEFAULT"
    )
    session.info[_LOCKED] = transaction


class Recorded:
    """One stored event with its position in the log (the recorder's notification id)."""

    __slots__ = ("event", "position")

    def __init__(self, position: int, event: domain.Event):
        self.position, self.event = position, event

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "position": self.position,
            "id": str(e.event_id),
            "stream": e.stream,
            "version": e.originator_version,
            "type": type(e).TYPE,
            "class_version": getattr(type(e), "class_version", 1),
            "time": e.timestamp.isoformat(),
            "org_id": e.org_id,
            "actor": e.actor,
            "correlation_id": e.correlation_id,
            "causation_id": e.causation_id,
            "data": e.data,
        }


def select_events(
    session: Session,
    *,
    after: int = 0,
    stream: str | None = None,
    correlation: str | None = None,
    types: Iterable[str] = (),
):
    """The statement for this organisation's events after position ``after``, in order."""
    rec = record_class(session)
    org_id = session.info.get("org_id")
    if org_id is None:
        raise TenantNotSet("events read without an organisation")
    stmt = select(rec.id, rec.originator_id, rec.originator_version, rec.topic, rec.state).where(
        rec.org_id == org_id, rec.id > after
    )
    if stream is not None:
        stmt = stmt.where(rec.originator_id == domain.originator_id(org_id, stream))
    if correlation is not None:
        stmt = stmt.where(rec.correlation_id == correlation)
    topics = [domain.topic_of(t) for t in types]
    if topics:
        stmt = stmt.where(rec.topic.in_(topics))
    return stmt.order_by(rec.id)


def decode(session: Session, rows) -> list[Recorded]:
    mapper = ledger_for(session).mapper
    out = []
    for pos, oid, version, topic, state in rows:
        stored = StoredEvent(
            originator_id=oid,
            originator_version=version,
            topic=topic,
            state=bytes(state) if isinstance(state, memoryview) else state,
        )
        out.append(Recorded(pos, mapper.to_domain_event(stored)))
    return out


def read(session: Session, *, limit: int = 100, newest: bool = False, **filters) -> list[Recorded]:
    """One page of events (see ``select_events``): the first ``limit``, or the ``newest``."""
    stmt = select_events(session, **filters)
    if newest:
        rec = record_class(session)
        stmt = stmt.order_by(None).order_by(rec.id.desc())
    with _walk_the_index(session):
        rows = session.execute(stmt.limit(limit)).all()
    return decode(session, list(reversed(rows)) if newest else rows)


@contextmanager
def _walk_the_index(session: Session):
    """A page should walk (org_id, id) from the cursor and stop after ``limit`` rows. While
    the table has no fresh statistics PostgreSQL expects a handful of rows and prefers
    fetching every row after the cursor and sorting them: each page of a replay then
    costs as much as the rest of the log (tried: 60 ms a page at 30,000 events, growing).
    So sorting is ruled out for that one statement (as api/pages.py does for keyset pages)."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    session.execute(text("SET LOCAL enable_sort = off"))
    yield  # a failure rolls the setting back with the transaction
    session.execute(text("SET LOCAL enable_sort TO DEFAULT"))


def walk(session: Session, *, page: int = 5000, **filters) -> Iterator[Recorded]:
    """Every event matching ``filters`` from position ``after`` on, a page at a time
    (``id > last``: positions that never committed leave gaps, which this crosses)."""
    after = filters.pop("after", 0)
    while True:
        batch = read(session, limit=page, after=after, **filters)
        yield from batch
        if len(batch) < page:
            return
        after = batch[-1].position
