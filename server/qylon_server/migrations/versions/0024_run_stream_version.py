"""A run's stream version on its row (issue 19): ``flow_runs.stream_version``, the version
of the run's last event, set by the projection with each event it applies. An append to
the run's stream numbers its events on from it, on the row it has locked anyway, instead
of querying the events table for the stream's head at every workflow step. NULL: a row
from before this (the next append reads the head once and records it).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("flow_runs", sa.Column("stream_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flow_runs") as batch:
        batch.drop_column("stream_version")
