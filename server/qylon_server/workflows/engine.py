"""DBOS Transact inside the server process: configuration, launch and the client that
enqueues runs.

- DBOS keeps its tables in the server's own database (``migrate.migrate_workflow_engine``
  creates them; the server never migrates them itself: its role may not create schemas).
- Run payloads go through ``DBOSPortableJSONSerializer``: JSON, never pickle. Inputs are
  plain dicts of strings, numbers, lists and mappings.
- ``APP_VERSION`` is a constant of the interpreter, not of the definition or the release:
  DBOS recovers only runs of its own version, so a computed version would orphan pending
  runs at every upgrade. Bump it only when the order of the interpreter's durable calls
  changes.
- DBOS is one per process (a second ``DBOS(config=...)`` silently returns the first):
  ``launch`` refuses a second database, and ``shutdown`` frees the slot (tests).
- Only a process given an executor id runs workflows (``qylon server start --workers 1``
  as ``server``, or ``qylon server worker --id NAME``); every server process can enqueue
  them. Two live processes never share an executor id: ``launch`` holds a lock for its id
  while it runs (a PostgreSQL advisory lock on the connection; on SQLite an OS lock on a
  file beside the database, which also keeps a second executor off one SQLite file), and
  refuses to start when another process holds it (``ExecutorInUse``). Both locks go with
  the process, a SIGKILLed one too.
- The queue's limits are stored in DBOS's queues table, shared by every process:
  ``workflow_concurrency`` (runs in progress at once, all processes together) and
  ``workflow_worker_concurrency`` (per process). Each executor writes them at start-up
  from its settings: give every process the same values.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbos import DBOSClient

    from ..config import ServerSettings
    from ..db import Database

APP_NAME = "qylon"
APP_VERSION = "qylon-interpreter-2"  # 2: own retry loop, gates, cancel and timeouts
QUEUE = "qylon-workflows"
WORKFLOW = "qylon.run"
WORKER_CONCURRENCY = 100  # the default of QYLON_WORKFLOW_WORKER_CONCURRENCY (waiting runs count)
POLL_S = 0.1  # how often a worker looks for queued runs (DBOS: 1 s)
CLOCK = "clock"  # the topic of waits: a message to it ends a sleep or a backoff early


class ExecutorInUse(RuntimeError):
    """Another live process runs workflows under this executor id (or, on SQLite, at all)."""


class EngineState:
    """The process's one launched engine: its database, executor id and settings."""

    db: Database | None = None
    executor_id: str | None = None
    settings: ServerSettings | None = None  # what actions read (SMTP relay, ...)
    guard: ExecutorGuard | None = None
    client: DBOSClient | None = None  # the workflows' own (runs parking enqueue with it)
    users = 0  # applications of this process using it (the last one's shutdown stops it)
    lock = threading.Lock()


def _lock_key(executor_id: str) -> int:
    digest = hashlib.sha256(f"qylon-executor:{executor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _sqlite_path(db: Database) -> Path | None:
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser()


class ExecutorGuard:
    """Proof that this process alone runs workflows as ``executor_id``: on PostgreSQL a
    session advisory lock held on a connection of its own, on SQLite an exclusive
    ``flock`` on ``DATABASE.workflows.lock`` (one executor per SQLite file, whatever its
    id: pitfall 17). Released by ``release`` or by the process's death."""

    def __init__(self, db: Database, executor_id: str, *, wait_s: float = 3.0):
        """``wait_s``: how long to keep trying (a just-killed predecessor's lock may take
        PostgreSQL a moment to drop)."""
        import time

        self.executor_id = executor_id
        self._conn = None
        self._file = None
        path = _sqlite_path(db)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if path is not None:
                    self._lock_file(path.with_name(path.name + ".workflows.lock"))
                elif db.engine.dialect.name == "postgresql":
                    self._lock_row(db)
                return
            except ExecutorInUse:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _lock_file(self, path: Path) -> None:
        if os.name != "posix":  # no flock: the rule stays documented, not enforced
            return
        import fcntl

        handle = open(path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ExecutorInUse(
                f"Workflows on this SQLite database already run in {holder}: SQLite takes "
                "one workflow executor. Use PostgreSQL for several (docs/server.md)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"executor {self.executor_id} (pid {os.getpid()})\n")
        handle.flush()
        self._file = handle

    def _lock_row(self, db: Database) -> None:
        from sqlalchemy import text

        conn = db.engine.connect()
        conn.detach()  # its own session: closing it really ends it, and the lock with it
        # a machine that vanishes without closing it: PostgreSQL drops the session (and
        # frees the id) after about a minute of silence, not the OS's two hours
        for name, value in (("idle", 30), ("interval", 10), ("count", 3)):
            conn.execute(text(f"SET tcp_keepalives_{name} = {value}"))
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(self.executor_id)}
        ).scalar()
        conn.commit()
        if not got:
            conn.close()
            raise ExecutorInUse(
                f"Executor {self.executor_id!r} is already running in another process on "
                "this database: two processes with one id would take each other's runs."
            )
        self._conn = conn

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the session's advisory lock goes with it
            self._conn = None
        if self._file is not None:
            self._file.close()  # and the flock with the file
            self._file = None


def alive(db: Database, executor_id: str, *, wait_s: float = 0.0) -> bool:
    """Whether a live process runs ``executor_id`` on this PostgreSQL database (holds its
    lock, still after ``wait_s``). On SQLite, whether any process runs workflows there."""
    try:
        ExecutorGuard(db, executor_id, wait_s=wait_s).release()
    except ExecutorInUse:
        return True
    return False


def serializer():
    from dbos import DBOSPortableJSONSerializer

    return DBOSPortableJSONSerializer()


def config(db: Database, executor_id: str) -> dict:
    return {
        "name": APP_NAME,
        "system_database_url": db.engine.url.render_as_string(hide_password=False),
        "system_database_engine": db.engine,
        "executor_id": executor_id,
        "application_version": APP_VERSION,
        "run_migrations": False,
        "serializer": serializer(),
        "log_level": "WARNING",
        "notification_listener_polling_interval_sec": 0.2,
    }


def client(db: Database) -> DBOSClient:
    """A client on the server's engine: enqueues runs (also inside a request's transaction)
    and reads their DBOS status. Lazy: a server that never starts a run never touches
    DBOS's tables."""
    from dbos import DBOSClient

    return DBOSClient(
        system_database_engine=db.engine,
        serializer=serializer(),
        application_name=APP_NAME,
        lazy=True,
    )


def current_id(run) -> str:
    """The DBOS workflow that carries ``run`` (a ``flow_runs`` row) now: its own id, or
    the continuation it parked into."""
    return run.engine_id or run.id


def continuation_id(run_id: str, n: int) -> str:
    return f"{run_id}~{n}"


def _unread(client: DBOSClient, workflow_id: str):
    """DBOS's messages table, the filter on ``workflow_id``'s unread ones, and the
    execution options that name the table's schema (DBOS writes a placeholder)."""
    from dbos._schemas import SCHEMA_PLACEHOLDER

    sys_db = client._sys_db
    table = sys_db.tables.notifications
    unread = (table.c.destination_uuid == workflow_id, table.c.consumed.is_(False))
    return table, unread, {"schema_translate_map": {SCHEMA_PLACEHOLDER: sys_db.schema}}


def unread_topics(session, client: DBOSClient, workflow_id: str) -> set[str]:
    """The topics of the messages ``workflow_id`` has not read."""
    import sqlalchemy as sa

    table, unread, options = _unread(client, workflow_id)
    query = sa.select(table.c.topic).where(*unread).distinct()
    return set(session.scalars(query, execution_options=options))


def move_messages(session, client: DBOSClient, source: str, target: str) -> None:
    """Hand the messages ``source`` has not read to ``target`` (a run parking into its
    continuation), in ``session``'s transaction. DBOS has no call for it: this updates
    its ``notifications`` table (dbos is pinned to its minor version, and
    tests/server/test_workflow_parking.py proves it)."""
    import sqlalchemy as sa

    table, unread, options = _unread(client, source)
    session.execute(
        sa.update(table).where(*unread).values(destination_uuid=target),
        execution_options=options,
    )


def wake(client: DBOSClient, workflow_id: str) -> None:
    """Start a parked run's continuation now (a signal, ``clock`` or a cancel came). A
    workflow that is not waiting for its delay is left alone."""
    client.set_workflow_delay(workflow_id, delay_seconds=0)


def launch(db: Database, executor_id: str, *, settings: ServerSettings | None = None) -> None:
    """Run workflows in this process under ``executor_id`` (resumes its pending runs);
    ``ExecutorInUse`` when another live process has that id. ``settings`` are what actions
    read (``engine.settings()``), and the queue's limits.

    From the application's lifespan the queue is registered by ``start_queue`` (the async
    form; DBOS's sync calls refuse to run on the event loop), from a worker by
    ``register_queue``."""
    from dbos import DBOS

    from . import interpreter  # noqa: F401 - registers the workflow before launch

    with EngineState.lock:
        if EngineState.db is not None:
            if EngineState.db.engine.url != db.engine.url or EngineState.executor_id != executor_id:
                raise RuntimeError(
                    "DBOS already runs workflows in this process for "
                    f"{EngineState.db.engine.url.render_as_string(hide_password=True)} "
                    f"as executor {EngineState.executor_id!r}: one engine per process"
                )
            EngineState.users += 1
            return
        guard = ExecutorGuard(db, executor_id)
        try:
            DBOS(config=config(db, executor_id))
            DBOS.launch()
        except BaseException:
            guard.release()
            raise
        EngineState.db, EngineState.executor_id, EngineState.users = db, executor_id, 1
        EngineState.settings, EngineState.guard = settings, guard


def queue_limits(current: ServerSettings | None = None) -> dict[str, Any]:
    """The queue's limits from ``current`` settings: ``global_concurrency`` (None: no
    limit across processes) and ``worker_concurrency`` (per process)."""
    current = current or settings()
    return {
        "global_concurrency": current.workflow_concurrency,
        "worker_concurrency": current.workflow_worker_concurrency,
    }


def _queue_options() -> dict[str, Any]:
    # always_update: the limits an executor starts with are the queue's (DBOS's default
    # would keep an older version's), so a changed setting applies at the next start
    return {**queue_limits(), "polling_interval_sec": POLL_S, "on_conflict": "always_update"}


def register_queue() -> dict[str, Any] | None:
    """Listen to the run queue, writing its limits (outside an event loop); the limits it
    had before when this changed them (another process started with other settings)."""
    from dbos import DBOS

    before = DBOS.retrieve_queue(QUEUE)
    old = before and {  # read now: a stored queue's properties read the database
        "global_concurrency": before.global_concurrency,
        "worker_concurrency": before.worker_concurrency,
    }
    DBOS.register_queue(QUEUE, **_queue_options())
    return old if old and old != queue_limits() else None


async def start_queue() -> None:
    from dbos import DBOS

    await DBOS.register_queue_async(QUEUE, **_queue_options())


def adopt(dead: list[str]) -> list[str]:
    """Take over the pending runs of executors that are gone: DBOS puts them back on the
    queue, where any executor picks them up (this one first, usually). Refuses an id that
    a live process holds. Uses ``DBOS._recover_pending_workflows``, a private call: dbos
    is pinned to its minor version, and tests/server/test_workflow_workers.py proves it."""
    from dbos import DBOS

    db = database()
    for executor_id in dead:
        if executor_id == EngineState.executor_id:
            raise ExecutorInUse(f"{executor_id!r} is this worker's own id: nothing to adopt.")
        if db.engine.dialect.name == "postgresql" and alive(db, executor_id, wait_s=3.0):
            raise ExecutorInUse(
                f"Executor {executor_id!r} is alive (another process holds its id): "
                "adopt only the runs of a stopped one."
            )
    handles = DBOS._recover_pending_workflows(list(dead))
    return [h.get_workflow_id() for h in handles]


def shutdown(timeout_s: int = 5) -> None:
    """Stop running workflows here (pending ones resume at the next launch)."""
    from dbos import DBOS

    with EngineState.lock:
        if EngineState.db is None:
            return
        EngineState.users -= 1
        if EngineState.users > 0:
            return
        try:
            DBOS.destroy(workflow_completion_timeout_sec=timeout_s)
        finally:
            if EngineState.guard is not None:
                EngineState.guard.release()
            EngineState.db = EngineState.executor_id = None
            EngineState.settings = EngineState.guard = None
            if EngineState.client is not None:
                EngineState.client.destroy()
                EngineState.client = None


def database() -> Database:
    if EngineState.db is None:
        raise RuntimeError("the workflow engine is not launched in this process")
    return EngineState.db


def shared_client() -> DBOSClient:
    """A client on the launched engine's database, made once."""
    if EngineState.client is None:
        EngineState.client = client(database())
    return EngineState.client


def settings() -> ServerSettings:
    """The settings of the application that launched the engine (else the environment's)."""
    from ..config import get_settings

    return EngineState.settings or get_settings()
