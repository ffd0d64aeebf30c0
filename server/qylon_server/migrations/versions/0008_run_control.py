"""Cancelling, resuming and finding workflow runs (issue 19): ``flow_runs`` records when a
cancel was asked for (``cancel_requested_at``), when the run was last resumed
(``resumed_at``: a resumed run's timeout counts from there), the run's deadline
(``deadline_at``) and what it is about (``subject``, from the definition's ``subject:``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = ("cancel_requested_at", "resumed_at", "deadline_at")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("flow_runs", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.add_column("flow_runs", sa.Column("subject", sa.String(length=500), nullable=True))
    op.create_index("ix_flow_runs_org_subject", "flow_runs", ["org_id", "subject"])


def downgrade() -> None:
    op.drop_index("ix_flow_runs_org_subject", table_name="flow_runs")
    with op.batch_alter_table("flow_runs") as batch:
        batch.drop_column("subject")
        for name in reversed(COLUMNS):
            batch.drop_column(name)
