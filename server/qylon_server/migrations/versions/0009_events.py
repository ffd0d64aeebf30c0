"""The event store (issue 19): ``qylonevents_events``, the table of eventsourcing's SQLAlchemy
application recorder (qylon_server/events/store.py), frozen here as the recorder's Table
generated it (eventsourcing-sqlalchemy 1.0.1), plus ``org_id`` and ``correlation_id``.

- ``org_id`` defaults on PostgreSQL to the transaction's organisation (``app.org_id``),
  and a forced row-level-security policy keeps tenants apart as on every other table.
- Append-only by trigger. UPDATE and DELETE stay granted: the recorder takes
  ``LOCK TABLE ... IN EXCLUSIVE MODE``, which PostgreSQL allows only to roles that may
  write the table.
- Types as the recorder's: BIGSERIAL and UUID on PostgreSQL; INTEGER and BINARY(16) on SQLite.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "qylonevents_events"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        TABLE,
        sa.Column(
            "org_id",
            sa.String(length=36),
            nullable=False,
            server_default=sa.text("NULLIF(current_setting('app.org_id', true), '')")
            if postgres
            else None,
        ),
        sa.Column("correlation_id", sa.String(length=100), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "originator_id",
            postgresql.UUID() if postgres else sa.BINARY(length=16),
            nullable=False,
        ),
        sa.Column(
            "originator_version",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
    )
    op.create_index(
        f"{TABLE}_aggregate_idx", TABLE, ["originator_id", "originator_version"], unique=True
    )
    op.create_index("ix_qylonevents_events_org_id_id", TABLE, ["org_id", "id"])
    op.create_index("ix_qylonevents_events_correlation_id", TABLE, ["correlation_id"])
    tenant_isolation(TABLE)
    if postgres:
        op.execute(
            """
            CREATE FUNCTION qylon_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'qylonevents_events is append-only'; END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER qylonevents_events_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION qylon_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER qylonevents_events_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                "BEGIN SELECT RAISE(ABORT, 'qylonevents_events is append-only'); END"
            )


def downgrade() -> None:
    op.drop_table(TABLE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION qylon_events_append_only()")
