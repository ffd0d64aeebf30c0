"""`qylon server ...`: migrate, init, start, worker, replay.

Light at import: fastapi, sqlalchemy and uvicorn are imported inside the commands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.errors import InvalidInput, QylonError

app = typer.Typer(
    no_args_is_help=True,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database URL (default: QYLON_DATABASE_URL, else a SQLite file in QYLON_HOME).",
    ),
]


def _settings(database_url: str | None = None):
    if database_url:
        os.environ["QYLON_DATABASE_URL"] = database_url  # uvicorn workers read the same environment
    from pydantic import ValidationError

    from .config import ServerSettings

    try:
        settings = ServerSettings()
    except ValidationError as exc:  # a bad QYLON_* variable: name it (exit 3)
        problems = "; ".join(
            f"QYLON_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"Bad server setting: {problems}") from None
    from .workflows.http import parse_allow

    try:
        parse_allow(settings.workflow_http_allow)
    except ValueError as exc:
        raise InvalidInput(f"Bad server setting: {exc}") from None
    settings.check()
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url[len("sqlite:///") :]).expanduser().parent.mkdir(
            parents=True, exist_ok=True
        )
        settings.make_database_private()
    return settings


@app.command()
def migrate(database_url: DbOption = None, json: output.JsonOption = False) -> None:
    """Create or upgrade the server's database schema (SQLite or PostgreSQL).

    Uses QYLON_DATABASE_ADMIN_URL when set (a role that owns the tables) and grants the
    app's role (from QYLON_DATABASE_URL) what it needs.

    Example: qylon server migrate --database-url postgresql://qylon@db/qylon
    """
    from sqlalchemy.engine import make_url

    from . import migrate as mig

    settings = _settings(database_url)
    admin_url = settings.database_admin_url or settings.database_url
    app_role = make_url(settings.database_url).username if settings.database_admin_url else None
    before, after = mig.upgrade(admin_url, grant_to=app_role)
    data = {
        "database": mig.safe_url(admin_url),
        "from": before,
        "to": after,
        "changed": before != after,
    }
    output.emit(
        data,
        lambda c: c.print(
            f"Database {data['database']}: "
            + (
                f"migrated {before or 'empty'} → {after}."
                if data["changed"]
                else f"already at {after}."
            )
        ),
    )


@app.command()
def init(
    org: Annotated[str, typer.Option("--org", help="The organisation's name.", show_default=False)],
    admin_email: Annotated[
        str, typer.Option("--admin-email", help="The first owner's email.", show_default=False)
    ],
    another: Annotated[
        bool, typer.Option("--another", help="Allow a further organisation on this server.")
    ] = False,
    database_url: DbOption = None,
    json: output.JsonOption = False,
) -> None:
    """Create the first organisation and its owner, and print the owner's API key once.

    Example: qylon server init --org "Acme Consulting" --admin-email ops@acme.example
    """
    from . import migrate as mig
    from .db import Database
    from .orgs import create_org

    settings = _settings(database_url)
    url = settings.database_admin_url or settings.database_url
    with _removed_on_failure(settings.database_url):
        if _sqlite_file(url) and _schema_of(url) is None:
            _, after = mig.upgrade(
                url
            )  # a new SQLite file: nothing to upgrade with care, so create it here
            output.info(f"New database {mig.safe_url(url)}: created its schema ({after}).")
        db = Database(url)
        try:
            mig.require_current(
                db.engine, settings.database_url, then="run `qylon server init` again"
            )
            done = create_org(
                db, name=org, admin_email=admin_email, pepper=settings.pepper(), allow_more=another
            )
        finally:
            db.dispose()
    data = {
        "organisation": {"id": done.org_id, "name": done.org_name},
        "user": {"id": done.user_id, "email": done.email, "role": "owner"},
        "key": {"id": done.key_id, "prefix": done.prefix, "scopes": ["admin", "read", "write"]},
        "token": done.token,
    }

    def human(c):
        c.print(f"Created organisation [bold]{done.org_name}[/] with owner {done.email}.")
        c.print("The owner's API key (shown only now; store it safely):")
        c.print(done.token, markup=False)
        c.print("Then: qylon auth login --server URL", style="dim")

    output.emit(data, human)


@app.command()
def start(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes.")] = 1,
    ssl_certfile: Annotated[
        Path | None, typer.Option("--cert", help="TLS certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option("--key", help="TLS private key (PEM).")
    ] = None,
    database_url: DbOption = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    workflows: Annotated[
        bool | None,
        typer.Option(
            "--workflows/--no-workflows",
            help="Run workflows in this process (executor `server`); the default with "
            "--workers 1. --no-workflows only queues them, for `qylon server worker`.",
            show_default=False,
        ),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Serve the API with uvicorn; refuses a database that is not migrated.

    With --workers 1 the process also runs workflows (executor `server`); with more, or
    with --no-workflows, runs are only queued and `qylon server worker` runs them.

    Example: qylon server start --host 0.0.0.0 --port 8443 --workers 4 --cert cert.pem --key key.pem
    """
    import uvicorn

    from . import worker_sockets
    from .db import Database

    settings = _settings(database_url)
    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise InvalidInput("TLS needs both --cert and --key.")
    for path in (ssl_certfile, ssl_keyfile):
        if path and not path.is_file():
            raise InvalidInput(f"TLS file not found: {path}")
    executor = _workflow_executor(settings, workers, workflows)
    with _removed_on_failure(settings.database_url):
        db = Database(settings.database_url)
        try:
            _check_serving(db, settings)
            _executor_free(db, executor)
        finally:
            db.dispose()
    settings.pepper()  # create the key pepper before several workers race to
    scheme = "https" if ssl_certfile else "http"
    output.info(
        f"Qylon server on {scheme}://{host}:{port} ({workers} worker{'s' if workers > 1 else ''})"
    )
    options = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "ssl_certfile": str(ssl_certfile) if ssl_certfile else None,
        "ssl_keyfile": str(ssl_keyfile) if ssl_keyfile else None,
        "log_level": log_level,
        "proxy_headers": False,
        "server_header": False,  # proxies: QYLON_TRUSTED_PROXIES
        "limit_concurrency": settings.max_concurrent_requests + 20,
    }
    if workers > 1 and worker_sockets.AVAILABLE:  # connections handed to the least busy worker
        worker_sockets.serve(uvicorn.Config("qylon_server.app:served_app", **options))
    else:
        uvicorn.run("qylon_server.app:served_app", **options)


@app.command()
def replay(
    projection: Annotated[
        str,
        typer.Argument(
            help="The projection to rebuild: flow_runs, compliance_items, experiments, "
            "engagement_nudges or onboardings."
        ),
    ],
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation (its id).")
    ] = None,
    database_url: DbOption = None,
    json: output.JsonOption = False,
) -> None:
    """Rebuild a projection from the event store, from position 0 (each organisation in a
    transaction of its own, as the app's role).

    Example: qylon server replay flow_runs --org 5f0c...
    """
    from qylon_cli.errors import NotFound

    from . import migrate as mig
    from .db import Database
    from .events import projections

    if projection not in projections.PROJECTIONS:
        raise InvalidInput(
            f"Unknown projection {projection!r}.",
            hint=f"Projections: {', '.join(projections.PROJECTIONS)}.",
        )
    settings = _settings(database_url)
    db = Database(settings.database_url)
    try:
        mig.require_current(db.engine, settings.database_url)
        if org:
            orgs = [org]
        else:
            lister = Database(settings.database_admin_url) if settings.database_admin_url else db
            try:
                orgs = projections.organisations(lister)
            finally:
                if lister is not db:
                    lister.dispose()
            if not orgs:
                output.warn(
                    "No organisations found (on PostgreSQL the app's role sees none without "
                    "--org): set QYLON_DATABASE_ADMIN_URL, or give --org."
                )
        try:
            done = [projections.rebuild(db, projection, org_id) for org_id in orgs]
        except LookupError as exc:
            raise NotFound(f"{exc}.", hint="Give an organisation's id to --org.") from None
    finally:
        db.dispose()
    data = {"projection": projection, "organisations": done}
    output.emit(
        data,
        lambda c: c.print(
            f"Rebuilt {projection}: {sum(d['rows'] for d in done)} rows "
            f"in {len(done)} organisation(s)."
        ),
    )


def _executor_free(db, executor: str | None) -> None:
    """Refuse early (exit 1) an executor id that a live process already holds (on SQLite:
    any process that runs workflows there)."""
    from .workflows import engine

    if not executor:
        return
    try:
        engine.ExecutorGuard(db, executor).release()
    except engine.ExecutorInUse as exc:
        raise QylonError(
            str(exc),
            code="executor_in_use",
            hint="Start this server with --no-workflows, or stop the other process. "
            + _IN_USE_HINT,
        ) from None


def _workflow_executor(settings, workers: int, workflows: bool | None = None) -> str | None:
    """One server process runs workflows (DBOS) under one executor id, ``server`` unless
    QYLON_WORKFLOW_EXECUTOR names another. Processes sharing an id would take each
    other's runs, so with several workers none runs them: they only enqueue, and
    `qylon server worker` processes run them."""
    if workers > 1 or workflows is False:
        if workflows or (workers > 1 and settings.workflow_executor):
            raise InvalidInput(
                "Only one process runs workflows under an executor id; --workers starts several.",
                hint="Start one worker (--workers 1), or run workflows in "
                "`qylon server worker --id NAME` processes (unset QYLON_WORKFLOW_EXECUTOR).",
            )
        os.environ.pop("QYLON_WORKFLOW_EXECUTOR", None)
        output.info(
            "Workflow runs are only queued here; `qylon server worker --id NAME` runs them."
        )
        return None
    if not settings.workflow_executor:
        os.environ["QYLON_WORKFLOW_EXECUTOR"] = "server"
    return settings.workflow_executor or "server"


EXECUTOR_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


def _executor_id(value: str, option: str) -> str:
    import re

    if not re.fullmatch(EXECUTOR_ID, value or ""):
        raise InvalidInput(
            f"{option} {value!r}: an executor id is 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            hint="e.g. --id worker-1 (keep it the same across restarts).",
        )
    return value


@app.command()
def worker(
    executor_id: Annotated[
        str,
        typer.Option(
            "--id",
            help="This worker's executor id: stable across restarts, never two live "
            "processes with one id (e.g. worker-1).",
            show_default=False,
        ),
    ],
    adopt: Annotated[
        list[str] | None,
        typer.Option(
            "--adopt",
            help="Also take over the pending runs of a stopped executor (repeatable).",
            show_default=False,
        ),
    ] = None,
    stop_timeout: Annotated[
        int,
        typer.Option(
            min=0,
            max=3600,
            help="On SIGTERM, seconds to let runs in progress finish; the others resume "
            "when this id starts again.",
        ),
    ] = 10,
    database_url: DbOption = None,
) -> None:
    """Run workflows, without an HTTP API, until SIGTERM or Ctrl-C (exit 0).

    Each worker has a stable executor id: a killed worker's runs resume when it starts
    again with the same --id, or when another worker adopts them (--adopt ID). Several
    workers need PostgreSQL; a SQLite database takes one process that runs workflows.
    Exit 1 (executor_in_use) when a live process already has the id.

    Example: qylon server worker --id worker-2 --adopt worker-1
    """
    import signal
    import threading

    from .db import Database
    from .workflows import engine

    _executor_id(executor_id, "--id")
    dead = [_executor_id(name, "--adopt") for name in adopt or []]
    if executor_id in dead:
        raise InvalidInput(f"--adopt {executor_id}: that is this worker's own --id.")
    settings = _settings(database_url)
    db = Database(settings.database_url, pool_size=settings.pool_size)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # from here on a stop is a clean one
        signal.signal(signum, lambda *_: stop.set())
    try:
        with _removed_on_failure(settings.database_url):
            _check_serving(db, settings)
        for name in dead if db.engine.dialect.name == "postgresql" else ():
            if engine.alive(db, name, wait_s=3.0):  # before launching: nothing to undo
                raise QylonError(
                    f"Executor {name!r} is alive (another process holds its id): adopt only "
                    "the runs of a stopped one.",
                    code="executor_in_use",
                    hint="Stop it first (systemctl stop qylon-worker@…), or let it run its own runs.",
                )
        try:
            engine.launch(db, executor_id, settings=settings)
        except engine.ExecutorInUse as exc:
            raise QylonError(str(exc), code="executor_in_use", hint=_IN_USE_HINT) from None
        code = _serve_workflows(engine, settings, executor_id, dead, stop, stop_timeout)
    finally:
        db.dispose()
    # DBOS's threads of runs that wait (a sleep, a signal) would hold the interpreter's exit
    # until their wait ends; everything they hold is in the database, so leave now
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve_workflows(engine, settings, executor_id, dead, stop, stop_timeout) -> int:
    """The launched worker's life: adopt, announce, wait for a stop, shut down. Its exit
    code (errors printed here: the process leaves with ``os._exit``)."""
    from . import migrate as mig

    code = 0
    try:
        before = engine.register_queue()
        if before is not None:
            output.warn(
                f"The queue's limits were {before} (set by a process with other settings); "
                f"now {engine.queue_limits(settings)}. Give every process the same "
                "QYLON_WORKFLOW_CONCURRENCY and QYLON_WORKFLOW_WORKER_CONCURRENCY."
            )
        adopted = engine.adopt(dead) if dead else []
        limits = engine.queue_limits(settings)
        everywhere = limits["global_concurrency"] or "no limit"
        output.info(
            f"Workflow worker {executor_id} running on {mig.safe_url(settings.database_url)}: "
            f"queue {engine.QUEUE}, at most {limits['worker_concurrency']} runs here, "
            f"{everywhere} in all. Stop with SIGTERM or Ctrl-C."
        )
        if dead:
            output.info(f"Adopted {len(adopted)} pending run(s) of {', '.join(dead)}.")
        while not stop.wait(0.5):
            pass
        output.info(
            f"Stopping worker {executor_id} (up to {stop_timeout}s for runs in progress)..."
        )
    except engine.ExecutorInUse as exc:
        error = QylonError(str(exc), code="executor_in_use")
        output.error(error.to_dict())
        code = error.exit_code
    except Exception as exc:  # noqa: BLE001 - reported like the CLI's own handler does
        output.error(
            {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}", "hint": None}
        )
        code = 1
    finally:
        engine.shutdown(stop_timeout)
    if code == 0:
        output.info(
            f"Worker {executor_id} stopped; its unfinished runs resume when it starts again."
        )
    return code


_IN_USE_HINT = (
    "Give each worker its own --id (systemd: qylon-worker@N, --id worker-%i); on SQLite, "
    "stop the other process or use PostgreSQL (docs/server.md, Several machines)."
)


def _check_serving(db, settings) -> None:
    """The schema is current and, outside development, the role is subject to row-level security."""
    from . import migrate as mig

    mig.require_current(db.engine, settings.database_url)
    if db.role_bypasses_rls():
        message = (
            "The database role is a superuser or has BYPASSRLS: row-level security will not apply."
        )
        if settings.environment != "development":
            raise InvalidInput(
                message, hint="Connect as a role without SUPERUSER/BYPASSRLS (see docs/server.md)."
            )
        output.warn(message)


def _sqlite_file(url: str) -> Path | None:
    return Path(url[len("sqlite:///") :]).expanduser() if url.startswith("sqlite:///") else None


def _schema_of(url: str) -> str | None:
    from . import migrate as mig
    from .db import make_engine

    engine = make_engine(url)
    try:
        return mig.current(engine)
    finally:
        engine.dispose()


@contextmanager
def _removed_on_failure(url: str) -> Iterator[None]:
    """A SQLite file that this command created is deleted again if the command fails: no half-made database."""
    path = _sqlite_file(url)
    existed = path is None or path.exists()
    try:
        yield
    except BaseException:
        if not existed:
            for leftover in (
                path,
                path.with_name(path.name + "-wal"),
                path.with_name(path.name + "-shm"),
            ):
                leftover.unlink(missing_ok=True)
        raise
