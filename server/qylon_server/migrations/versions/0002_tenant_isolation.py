"""Tenant isolation and append-only audit: PostgreSQL row-level security, audit triggers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Row-level security is keyed on the per-transaction setting ``app.org_id`` (set with
``set_config(..., true)``, i.e. SET LOCAL, at the start of every transaction). FORCE
makes the policies apply to the tables' owner too; only superusers and BYPASSRLS
roles escape them, which is why the server refuses such a role in production.
The one exception: a caller that knows an API key's hash may read that key's row
(``app.key_hash``), which is how a request finds its organisation.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ORG = "current_setting('app.org_id', true)"
TENANT_TABLES = ["users", "clients", "meetings", "action_items", "audit_events"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in [*TENANT_TABLES, "api_keys", "organisations"]:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for table in TENANT_TABLES:
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
            )
        op.execute(
            f"CREATE POLICY tenant_isolation ON api_keys USING (org_id = {ORG} "
            "OR key_hash = current_setting('app.key_hash', true)) "
            f"WITH CHECK (org_id = {ORG})"
        )
        op.execute(
            f"CREATE POLICY tenant_isolation ON organisations USING (id = {ORG}) WITH CHECK (id = {ORG})"
        )
        op.execute(
            """
            CREATE FUNCTION qylon_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION qylon_audit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION qylon_audit_append_only()")
        for table in [*TENANT_TABLES, "api_keys", "organisations"]:
            op.execute(f"DROP POLICY tenant_isolation ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER audit_events_no_{verb}")
