"""Parked workflow runs (issue 20): ``flow_runs.engine_id``, the DBOS workflow that
carries a run now. A run waiting longer than a minute parks: its DBOS workflow ends and a
delayed continuation (``RUN~N``) takes over at the wait's end, so a sleeping run holds no
queue slot and no thread. Signals, ``clock`` and cancels go to the continuation.
NULL: the run's own id (every run before this, and every run that never parked).
``flow_runs.started_at``: when a run first started (its timeout counts from it; runs
enqueued from now on have no start call of their own to remember it).

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("flow_runs", sa.Column("engine_id", sa.String(length=80), nullable=True))
    op.add_column("flow_runs", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flow_runs") as batch:
        batch.drop_column("started_at")
        batch.drop_column("engine_id")
