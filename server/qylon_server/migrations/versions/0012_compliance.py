"""Compliance (issue 20): ``compliance_policies`` (uploaded versions), ``compliance_items``
(what each person must complete: a projection of the ``compliance:<user>`` event
streams) and ``compliance_evidence`` (uploaded files with their SHA-256), all
organisation-scoped with forced row-level security.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("compliance_policies", "compliance_items", "compliance_evidence")


def _org(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"], ["organisations.id"], name=op.f(f"fk_{table}_org_id_organisations")
    )


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "compliance_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("frameworks", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        _when("created_at"),
        _org("compliance_policies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_policies")),
        sa.UniqueConstraint(
            "org_id", "name", "version", name="uq_compliance_policies_org_name_version"
        ),
    )
    op.create_table(
        "compliance_items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("policy_name", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("frameworks", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("start_date", sa.String(length=10), nullable=False),
        sa.Column("due_date", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        _when("assigned_at"),
        _when("completed_at", True),
        sa.Column("completed_by", sa.String(length=36), nullable=True),
        sa.Column("evidence_id", sa.String(length=36), nullable=True),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("escalations", sa.JSON(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        _when("updated_at"),
        _org("compliance_items"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_compliance_items_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["compliance_policies.id"],
            name=op.f("fk_compliance_items_policy_id_compliance_policies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_items")),
        sa.UniqueConstraint(
            "org_id", "user_id", "policy_name", "item_key", name="uq_compliance_items_org_user"
        ),
    )
    op.create_index(op.f("ix_compliance_items_user_id"), "compliance_items", ["user_id"])
    op.create_index("ix_compliance_items_org_status", "compliance_items", ["org_id", "status"])
    op.create_table(
        "compliance_evidence",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        _when("created_at"),
        _org("compliance_evidence"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_evidence")),
    )
    op.create_index(op.f("ix_compliance_evidence_org_id"), "compliance_evidence", ["org_id"])
    op.create_index(op.f("ix_compliance_evidence_item_id"), "compliance_evidence", ["item_id"])
    for table in TABLES:
        tenant_isolation(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
