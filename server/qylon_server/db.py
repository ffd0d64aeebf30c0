"""Engine, sessions and tenant isolation.

Every session belongs to one organisation. Two independent guards keep tenants apart:

1. the data layer: every ORM query on a tenant table gets ``org_id = :org`` added
   (``with_loader_criteria``), and new rows are stamped with the session's org;
2. on PostgreSQL, row-level security: each transaction starts with
   ``set_config('app.org_id', :org, true)`` (SET LOCAL) and the policies created by
   the migrations only show that organisation's rows, so a query that skips the
   first guard (raw SQL, a forgotten filter) still cannot read another firm's data.
   The app must connect as a role without SUPERUSER or BYPASSRLS.

Each transaction on PostgreSQL also asks for custom plans (see ``_rls_settings``).

Work that must happen only once a transaction has committed (enqueueing a workflow,
sending a notification) is registered with ``after_commit(session, callback)``: the
callbacks run after the outermost commit, in order, and are dropped on rollback.
"""

from __future__ import annotations

import functools
import logging
import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pydantic_core import from_json
from sqlalchemy import create_engine, event, exc, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker, with_loader_criteria

from .models import OrgScoped
from .sqlite_writer import one_writer_at_a_time

SKIP = "skip_tenant_filter"
AFTER_COMMIT = "after_commit"
READS = "reads"  # session.info: the transaction mostly reads (Database.session)
log = logging.getLogger("qylon_server")


class TenantNotSet(RuntimeError):
    """A tenant table was queried from a session that belongs to no organisation."""


def driver_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 (the driver this package installs)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """The engine of ``url``. JSON columns are read with pydantic-core's parser: a page of
    50 clients reads 51 JSON values, and the standard library's ``json.loads`` (with its
    encoding sniffing of bytes) was a tenth of the request's CPU on PostgreSQL."""
    url = driver_url(url)
    if url.startswith("sqlite"):
        # A file's pool as large as PostgreSQL's: past the pool size every request opened
        # (and closed) a connection of its own, with its PRAGMAs, under load
        in_file = make_url(url).database not in (None, "", ":memory:")
        sizes = {"pool_size": pool_size, "max_overflow": pool_size} if in_file else {}
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            json_deserializer=from_json,
            **sizes,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        if in_file:
            one_writer_at_a_time(engine, make_url(url).database)
        return engine
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, json_deserializer=from_json
    )
    event.listen(engine.pool, "checkout", _closed_by_the_server)
    event.listen(engine.pool, "checkout", _implicit_begin)
    return engine


def _closed_by_the_server(dbapi_conn, _record, _proxy) -> None:
    """A pooled PostgreSQL connection that the server has closed is replaced at checkout,
    without a round trip (SQLAlchemy's "pessimistic" disconnect handling, done with a
    look at the socket instead of ``pool_pre_ping``'s ``SELECT 1``, which cost every
    request a round trip). An idle connection is sent nothing unless the server is
    ending it: a restart, a shutdown or ``pg_terminate_backend`` sends an error and
    closes the socket, which then reads as ready. The pool replaces a connection this
    raises for, and tries again. A connection that dies while in use fails its request,
    and SQLAlchemy then drops the pool's older connections (its "optimistic" handling),
    as it did with the pre-ping."""
    if dbapi_conn.closed or dbapi_conn.broken:
        raise exc.DisconnectionError("the connection is closed")
    poll = select.poll()
    poll.register(dbapi_conn.fileno(), select.POLLIN | select.POLLPRI)
    if poll.poll(0):
        raise exc.DisconnectionError("the server closed the connection, or is closing it")


class Database:
    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.postgres = self.engine.dialect.name == "postgresql"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(
        self, org_id: str | None, *, key_hash: str | None = None, reads: bool = False
    ) -> Iterator[Session]:
        """A session (and transaction) for one organisation; commits on success.
        ``reads``: the transaction mostly reads (a GET), and may use PostgreSQL's cached
        plans (``_rls_settings``)."""
        session = self._sessions(info={"org_id": org_id, "key_hash": key_hash, READS: reads})
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def role_bypasses_rls(self) -> bool:
        if not self.postgres:
            return False
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
            ).scalar()
        return bool(row)

    def dispose(self) -> None:
        self.engine.dispose()


def set_org(session: Session, org_id: str) -> None:
    """Move a session (and its open transaction) to an organisation."""
    session.info["org_id"] = org_id
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT set_config('app.org_id', :org, true)"), {"org": org_id})


@event.listens_for(Session, "after_begin")
def _rls_settings(session: Session, _transaction, connection) -> None:
    """The tenant settings, and custom plans but in a session of ``reads``: psycopg
    prepares a statement run five times on a connection, and PostgreSQL may then keep
    one generic plan for it until the table is next analysed. A plan made while a table
    was small (a new organisation, before autovacuum has analysed it) stays while the
    table grows: during a 100,000-user import the per-batch user look-ups went from
    milliseconds to a third of a second each. Planning afresh costs each statement a
    fraction of a millisecond, which a GET does not need to spend: planning was 0.3 of
    the 0.84 ms of database CPU a clients page cost under load (0.50 ms with cached
    plans; 674 -> 794 req/s in alternated runs). A read's cached plan lasts until
    autovacuum analyses a table that grew."""
    if connection.dialect.name != "postgresql":
        return
    from psycopg.sql import Literal

    pooled = connection.connection
    dbapi = pooled.dbapi_connection
    org, digest = session.info.get("org_id") or "", session.info.get("key_hash") or ""
    plans = "auto" if session.info.get(READS) else "force_custom_plan"
    # literals, as several statements in one go take no parameters; "%" doubled, as the
    # driver still reads the text for placeholders
    org, digest = (Literal(v).as_string(dbapi).replace("%", "%%") for v in (org, digest))
    sql = (
        f"SELECT set_config('app.org_id', {org}, true), "
        f"set_config('app.key_hash', {digest}, true), "
        f"set_config('plan_cache_mode', '{plans}', true)"
    )
    if _begins_implicitly(dbapi, pooled.info):
        # psycopg would send BEGIN on its own before the first statement, a round trip of
        # its own (a fifth of a clients page's time under load): BEGIN goes with the
        # settings, and the pool puts the connection back in its normal mode when it
        # hands it out again (_implicit_begin). psycopg ends the transaction by its
        # state, autocommit or not.
        pooled.info[_OWN_BEGIN] = True
        dbapi.autocommit = True
        sql = "BEGIN; " + sql
    connection.exec_driver_sql(sql)


_OWN_BEGIN = "qylon_own_begin"  # the connection is in autocommit for _rls_settings' BEGIN


def _begins_implicitly(dbapi, info: dict) -> bool:
    """psycopg is outside a transaction and would open one with a plain BEGIN."""
    from psycopg.pq import TransactionStatus

    return (
        dbapi.pgconn.transaction_status == TransactionStatus.IDLE
        and (info.get(_OWN_BEGIN) or not dbapi.autocommit)
        and dbapi.isolation_level is None
        and dbapi.read_only is None
        and dbapi.deferrable is None
    )


def _implicit_begin(dbapi_conn, record, _proxy) -> None:
    """A pooled PostgreSQL connection goes out in psycopg's normal mode (BEGIN sent before
    the first statement), whatever ``_rls_settings`` left."""
    if record.info.pop(_OWN_BEGIN, False):
        dbapi_conn.autocommit = False


@event.listens_for(Session, "do_orm_execute")
def _tenant_filter(state) -> None:
    if state.is_column_load or state.is_relationship_load or state.execution_options.get(SKIP):
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    org_id = state.session.info.get("org_id")
    if org_id is None:
        mapper = state.bind_mapper
        if mapper is not None and issubclass(mapper.class_, OrgScoped):
            raise TenantNotSet(f"query on {mapper.class_.__name__} without an organisation")
        return
    state.statement = state.statement.options(_org_criteria(org_id))


@functools.lru_cache(maxsize=1024)
def _org_criteria(org_id: str):
    """The tenant filter's option for one organisation, made once: SQLAlchemy memoises an
    option's cache key on the object, so a statement with a reused option costs a quarter
    less to execute than one with a new option each time."""
    return with_loader_criteria(OrgScoped, lambda cls: cls.org_id == org_id, include_aliases=True)


@event.listens_for(Session, "before_flush")
def _stamp_org(session: Session, _ctx, _instances) -> None:
    org_id = session.info.get("org_id")
    for obj in session.new:
        if isinstance(obj, OrgScoped):
            if org_id is None:
                raise TenantNotSet(f"new {type(obj).__name__} without an organisation")
            if obj.org_id is None:
                obj.org_id = org_id
            elif obj.org_id != org_id:
                raise TenantNotSet(f"new {type(obj).__name__} for another organisation")


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run ``callback()`` after ``session``'s transaction commits; nothing runs if it rolls back.

    Callbacks run outside the transaction (they must not use ``session``); one that raises
    is logged and does not stop the others: the data is committed by then."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("after-commit callback %r failed", callback)


@event.listens_for(Session, "after_transaction_end")
def _drop_after_commit(session: Session, transaction) -> None:
    """The outermost transaction ended without committing (a commit ran them already);
    a savepoint rolled back inside it (``begin_nested``) keeps them."""
    if transaction.parent is None:
        session.info.pop(AFTER_COMMIT, None)
