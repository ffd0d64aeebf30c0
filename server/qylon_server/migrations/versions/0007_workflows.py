"""Workflow definitions and runs (issue 19): ``flow_definitions`` and ``flow_runs``, both
organisation-scoped with forced row-level security. DBOS keeps its own tables beside them
(``migrate.upgrade`` creates those after Alembic).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_definitions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_flow_definitions_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_definitions")),
        sa.UniqueConstraint(
            "org_id", "name", "version", name="uq_flow_definitions_org_name_version"
        ),
    )
    op.create_table(
        "flow_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("definition_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_flow_runs_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["flow_definitions.id"],
            name=op.f("fk_flow_runs_definition_id_flow_definitions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_runs")),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_flow_runs_org_idempotency_key"),
    )
    op.create_index(op.f("ix_flow_runs_org_id"), "flow_runs", ["org_id"])
    op.create_index(op.f("ix_flow_runs_created_at"), "flow_runs", ["created_at"])
    op.create_index("ix_flow_runs_org_status", "flow_runs", ["org_id", "status"])
    for table in ("flow_definitions", "flow_runs"):
        tenant_isolation(table)


def downgrade() -> None:
    op.drop_table("flow_runs")
    op.drop_table("flow_definitions")
