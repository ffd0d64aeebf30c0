"""Email notifications (issue 22): ``notification_prefs``, each person's settings (the
daily digest: off or daily, its local hour, its current run). Forced row-level security.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_prefs",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("digest", sa.String(length=10), nullable=False),
        sa.Column("digest_hour", sa.Integer(), nullable=False),
        sa.Column("digest_run_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_notification_prefs_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("org_id", "user_id", name=op.f("pk_notification_prefs")),
    )
    tenant_isolation("notification_prefs")


def downgrade() -> None:
    op.drop_table("notification_prefs")
