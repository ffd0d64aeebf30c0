"""Withdrawn compliance items: ``compliance_items.withdrawn_at``, ``withdrawn_by`` and
``withdrawn_reason`` (an admin withdrew an assigned item: it is no longer due, never
overdue, and its escalation stops). A redate needs no column: it changes ``due_date``,
and the ``compliance.item_redated`` event keeps the date it had.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "compliance_items", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("compliance_items", sa.Column("withdrawn_by", sa.String(36), nullable=True))
    op.add_column("compliance_items", sa.Column("withdrawn_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compliance_items") as batch:
        batch.drop_column("withdrawn_reason")
        batch.drop_column("withdrawn_by")
        batch.drop_column("withdrawn_at")
