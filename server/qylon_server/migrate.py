"""Alembic migrations, run programmatically from the packaged ``migrations`` folder."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from qylon_cli.errors import QylonError

from .db import driver_url

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "qylon_alembic_version"


class NotMigrated(QylonError):
    code = "database_not_migrated"


# Tables DBOS Transact keeps in the same database. On PostgreSQL they live in the
# ``dbos`` schema, but on SQLite they are bare, beside ours: a model must never take one
# of these names or prefixes (tests/server/test_migration_rules.py), and autogenerate
# leaves them alone.
DBOS_TABLES = frozenset({
    "workflow_status", "operation_outputs", "notifications", "workflow_events",
    "workflow_events_history", "workflow_inputs", "workflow_queue", "workflow_schedules",
    "queues", "streams", "event_dispatch_kv", "transaction_outputs", "application_versions",
    "dbos_migrations",
})  # fmt: skip
DBOS_PREFIXES = ("workflow_", "dbos_")
# The event store's table: described by eventsourcing's recorder, not by our models
# (migration 0009 freezes its DDL).
RECORDER_TABLES = frozenset({"qylonevents_events"})


def foreign_table(name: str) -> bool:
    """A table another engine (DBOS) owns, by name or prefix."""
    return name in DBOS_TABLES or name.startswith(DBOS_PREFIXES)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate compares our tables only: DBOS's, and their indexes, are left alone.
    A table of ours that no model describes any more is still reported (to be dropped)."""
    owned_elsewhere = foreign_table(name) or name in RECORDER_TABLES
    if type_ == "table" and reflected and compare_to is None and owned_elsewhere:
        return False
    table = getattr(obj, "table", None)
    return not (
        type_ in ("index", "unique_constraint", "column")
        and table is not None
        and (foreign_table(table.name) or table.name in RECORDER_TABLES)
    )


def config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(config("sqlite://")).get_current_head()


def current(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def upgrade(url: str, *, grant_to: str | None = None) -> tuple[str | None, str]:
    """Bring the database to the newest schema; returns (before, after)."""
    from alembic import command
    from sqlalchemy import text

    from .db import make_engine

    url = driver_url(url)
    engine = make_engine(url)
    try:
        try:
            before = current(engine)
        except Exception as exc:  # noqa: BLE001 - reported as "cannot connect"
            raise unavailable(url, exc) from None
        with engine.begin() as conn:
            cfg = config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            if grant_to and conn.dialect.name == "postgresql":
                role = conn.exec_driver_sql("SELECT quote_ident(%s)", (grant_to,)).scalar()
                conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
                conn.execute(
                    text(
                        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
                    )
                )
                conn.execute(
                    text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
                )
                conn.execute(text(f"REVOKE UPDATE, DELETE ON audit_events FROM {role}"))
        migrate_workflow_engine(url, grant_to=grant_to)
        return before, current(engine)
    finally:
        engine.dispose()


def migrate_workflow_engine(url: str, *, grant_to: str | None = None) -> None:
    """Create or bring up to date DBOS Transact's tables (durable workflows) in the same
    database: the ``dbos`` schema on PostgreSQL (usable by ``grant_to``), bare tables on
    SQLite. The server launches DBOS without migrating (its role may not create schemas)."""
    from dbos import DBOS

    postgres = not url.startswith("sqlite")
    DBOS.migrate(url, application_role=grant_to if postgres else None)


def require_current(engine, url_for_hint: str, *, then: str = "start again") -> None:
    """Refuse to serve a database that is not at the newest schema."""
    try:
        found = current(engine)
    except Exception as exc:  # noqa: BLE001 - any connection failure is reported the same way
        raise unavailable(url_for_hint, exc) from None
    if found != head():
        state = "has no schema yet" if found is None else f"is at revision {found}, not {head()}"
        raise NotMigrated(
            f"The database {safe_url(url_for_hint)} {state}.",
            hint=f"Run `qylon server migrate` (with the same QYLON_DATABASE_URL), then {then}.",
        )


def unavailable(url: str, exc: Exception):
    from qylon_cli.errors import Unavailable

    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[-1][:300]
    return Unavailable(
        f"Cannot connect to the database {safe_url(url)}: {reason}",
        hint="Check QYLON_DATABASE_URL (and QYLON_DATABASE_ADMIN_URL for migrations).",
    )


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
