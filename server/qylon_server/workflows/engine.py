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
- Only a process given an executor id (``QYLON_WORKFLOW_EXECUTOR``) runs workflows; every
  server process can enqueue them. Two processes must never share an executor id.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbos import DBOSClient

    from ..config import ServerSettings
    from ..db import Database

APP_NAME = "qylon"
APP_VERSION = "qylon-interpreter-2"  # 2: own retry loop, gates, cancel and timeouts
QUEUE = "qylon-workflows"
WORKFLOW = "qylon.run"
WORKER_CONCURRENCY = 16
POLL_S = 0.1  # how often a worker looks for queued runs (DBOS: 1 s)
CLOCK = "clock"  # the topic of waits: a message to it ends a sleep or a backoff early


class EngineState:
    """The process's one launched engine: its database and executor id."""

    db: Database | None = None
    executor_id: str | None = None
    settings: ServerSettings | None = None  # what actions read (SMTP relay, ...)
    users = 0  # applications of this process using it (the last one's shutdown stops it)
    lock = threading.Lock()


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


def launch(db: Database, executor_id: str, *, settings: ServerSettings | None = None) -> None:
    """Run workflows in this process under ``executor_id`` (resumes its pending runs).

    Called from the application's lifespan: the queue is registered by ``start_queue``
    (the async form; DBOS's sync calls refuse to run on the event loop)."""
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
        DBOS(config=config(db, executor_id))
        EngineState.db, EngineState.executor_id, EngineState.users = db, executor_id, 1
        EngineState.settings = settings
        DBOS.launch()


async def start_queue() -> None:
    from dbos import DBOS

    await DBOS.register_queue_async(
        QUEUE, worker_concurrency=WORKER_CONCURRENCY, polling_interval_sec=POLL_S
    )


def shutdown(timeout_s: int = 5) -> None:
    """Stop running workflows here (pending ones resume at the next launch)."""
    from dbos import DBOS

    with EngineState.lock:
        if EngineState.db is None:
            return
        EngineState.users -= 1
        if EngineState.users > 0:
            return
        DBOS.destroy(workflow_completion_timeout_sec=timeout_s)
        EngineState.db = EngineState.executor_id = EngineState.settings = None


def database() -> Database:
    if EngineState.db is None:
        raise RuntimeError("the workflow engine is not launched in this process")
    return EngineState.db


def settings() -> ServerSettings:
    """The settings of the application that launched the engine (else the environment's)."""
    from ..config import get_settings

    return EngineState.settings or get_settings()
