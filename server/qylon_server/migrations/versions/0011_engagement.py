"""Re-engagement (issue 20): ``engagement_rules`` (uploaded rule versions) and
``engagement_nudges`` (a projection of ``engagement.nudge_started`` events), both
organisation-scoped with forced row-level security.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engagement_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_engagement_rules_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_rules")),
        sa.UniqueConstraint(
            "org_id", "name", "version", name="uq_engagement_rules_org_name_version"
        ),
    )
    op.create_table(
        "engagement_nudges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_engagement_nudges_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_nudges")),
    )
    op.create_index(
        "ix_engagement_nudges_org_user_at", "engagement_nudges", ["org_id", "user_id", "at"]
    )
    for table in ("engagement_rules", "engagement_nudges"):
        tenant_isolation(table)


def downgrade() -> None:
    op.drop_table("engagement_nudges")
    op.drop_table("engagement_rules")
