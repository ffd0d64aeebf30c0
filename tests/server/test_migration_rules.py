"""Rules every migration keeps: organisation-scoped tables have a FORCED row-level-security
policy (PostgreSQL), no model takes a table name the workflow engine (DBOS) uses bare on
SQLite, and autogenerate ignores DBOS's tables but still reports our orphaned ones."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from qylon_server.migrate import DBOS_PREFIXES, DBOS_TABLES, foreign_table, include_object
from qylon_server.migrations import rls
from qylon_server.models import Base, OrgScoped
from sqlalchemy import create_engine, text


def org_scoped_tables() -> set[str]:
    return {
        m.class_.__tablename__ for m in Base.registry.mappers if issubclass(m.class_, OrgScoped)
    }


def test_every_org_scoped_table_has_a_forced_policy(team_servers):
    backend = team_servers.backend("postgres")
    engine = create_engine(backend.admin_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                    "  (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind = 'r'"
                )
            ).all()
    finally:
        engine.dispose()
    state = {name: (enabled, forced, policies) for name, enabled, forced, policies in rows}
    tables = org_scoped_tables()
    assert {"users", "clients", "audit_events", "groups"} <= tables
    missing = {
        t: state.get(t) for t in tables if state.get(t, (False, False, 0)) != (True, True, 1)
    }
    assert missing == {}, f"organisation-scoped tables without a forced tenant policy: {missing}"


def test_no_model_takes_a_dbos_table_name():
    ours = set(Base.metadata.tables)
    assert ours, "no tables found"
    clashes = {name for name in ours if foreign_table(name)}
    assert clashes == set(), f"DBOS uses these names bare on SQLite: {clashes}"


def test_the_dbos_names_are_the_engines():
    """The list the rule checks against holds DBOS's bare SQLite names and prefixes."""
    assert {
        "workflow_status",
        "operation_outputs",
        "notifications",
        "queues",
        "streams",
    } <= DBOS_TABLES
    assert (
        foreign_table("workflow_runs")
        and foreign_table("dbos_anything")
        and not foreign_table("flow_runs")
    )
    assert DBOS_PREFIXES == ("workflow_", "dbos_")


def test_the_policy_helper_writes_enable_force_and_policy():
    enable, force, policy = rls.statements("things")
    assert enable == "ALTER TABLE things ENABLE ROW LEVEL SECURITY"
    assert force == "ALTER TABLE things FORCE ROW LEVEL SECURITY"
    assert policy == (
        "CREATE POLICY tenant_isolation ON things USING (org_id = current_setting('app.org_id', true)) "
        "WITH CHECK (org_id = current_setting('app.org_id', true))"
    )


def test_autogenerate_ignores_dbos_tables_but_reports_our_orphans(team_servers, tmp_path):
    from qylon_server.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'rules.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            # `upgrade` made DBOS's real tables (bare on SQLite) beside ours
            tables = {
                r[0]
                for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
            }
            assert {"workflow_status", "notifications", "operation_outputs"} <= tables
            conn.execute(
                text("CREATE INDEX IF NOT EXISTS ix_notifications_topic ON notifications (topic)")
            )
            conn.execute(
                text("CREATE TABLE old_reports (id INTEGER PRIMARY KEY)")
            )  # ours, orphaned
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={"include_object": include_object, "version_table": "qylon_alembic_version"},
            )
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    removed = [d[1].name for d in diff if d[0] == "remove_table"]
    assert removed == ["old_reports"], diff


@pytest.mark.parametrize("table", sorted(DBOS_TABLES))
def test_include_object_leaves_each_dbos_table_alone(table):
    class Reflected:
        name = table

    assert include_object(Reflected(), table, "table", True, None) is False
