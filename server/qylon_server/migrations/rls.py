"""Row-level security for migrations: one call per organisation-scoped table.

    from qylon_server.migrations.rls import tenant_isolation

    def upgrade() -> None:
        op.create_table("things", ..., sa.Column("org_id", ...))
        tenant_isolation("things")

On PostgreSQL it enables and FORCEs row-level security on the table (FORCE: the tables'
owner is bound too) and creates the ``tenant_isolation`` policy, which shows and accepts
only rows whose ``org_id`` is the transaction's ``app.org_id`` (db.py sets it). On
SQLite it does nothing: the data layer's filter (db.py) is the guard there.
``tests/server/test_migration_rules.py`` fails when an organisation-scoped table lacks
the forced policy.
"""

from __future__ import annotations

ORG = "current_setting('app.org_id', true)"


def statements(table: str, *, column: str = "org_id") -> list[str]:
    """The SQL that ``tenant_isolation`` runs on PostgreSQL."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({column} = {ORG}) WITH CHECK ({column} = {ORG})",
    ]


def tenant_isolation(table: str, *, column: str = "org_id") -> None:
    """Enable, force and write the tenant policy of ``table`` (PostgreSQL only)."""
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in statements(table, column=column):
        op.execute(statement)


def drop_tenant_isolation(table: str) -> None:
    """The reverse of ``tenant_isolation`` (for a downgrade that keeps the table)."""
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP POLICY tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
