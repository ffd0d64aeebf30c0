"""`qylon server ...`: migrate, init, start, replay.

Light at import: fastapi, sqlalchemy and uvicorn are imported inside the commands.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.errors import InvalidInput

app = typer.Typer(
    help="Run and administer the team server.\n\nExample: qylon server migrate && qylon server start",
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
    from .config import ServerSettings

    settings = ServerSettings()
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
    json: output.JsonOption = False,
) -> None:
    """Serve the API with uvicorn; refuses a database that is not migrated.

    Example: qylon server start --host 0.0.0.0 --port 8443 --workers 4 --cert cert.pem --key key.pem
    """
    import uvicorn

    from .db import Database

    settings = _settings(database_url)
    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise InvalidInput("TLS needs both --cert and --key.")
    for path in (ssl_certfile, ssl_keyfile):
        if path and not path.is_file():
            raise InvalidInput(f"TLS file not found: {path}")
    with _removed_on_failure(settings.database_url):
        db = Database(settings.database_url)
        try:
            _check_serving(db, settings)
        finally:
            db.dispose()
    settings.pepper()  # create the key pepper before several workers race to
    _workflow_executor(settings, workers)
    scheme = "https" if ssl_certfile else "http"
    output.info(
        f"Qylon server on {scheme}://{host}:{port} ({workers} worker{'s' if workers > 1 else ''})"
    )
    uvicorn.run(
        "qylon_server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,  # proxies: QYLON_TRUSTED_PROXIES
        limit_concurrency=settings.max_concurrent_requests + 20,
    )


@app.command()
def replay(
    projection: Annotated[str, typer.Argument(help="The projection to rebuild: flow_runs.")],
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


def _workflow_executor(settings, workers: int) -> None:
    """One server process runs workflows (DBOS) under one executor id, ``server`` unless
    QYLON_WORKFLOW_EXECUTOR names another. Processes sharing an id would take each
    other's runs, so with several workers none runs them: they only enqueue."""
    if workers > 1:
        if settings.workflow_executor:
            raise InvalidInput(
                "QYLON_WORKFLOW_EXECUTOR names one process; --workers starts several.",
                hint="Unset QYLON_WORKFLOW_EXECUTOR, or start one worker (--workers 1).",
            )
        output.warn(
            f"{workers} workers only queue workflow runs; a server started with "
            "--workers 1 runs them."
        )
        return
    if not settings.workflow_executor:
        os.environ["QYLON_WORKFLOW_EXECUTOR"] = "server"


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
