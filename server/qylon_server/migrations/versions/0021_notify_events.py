"""Per-event email notifications (issue 22): ``notification_prefs.events`` (the event
types that email a person; NULL: the organisation's defaults) and
``mail_settings.notify_events`` (those defaults, set by an admin).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification_prefs") as batch:
        batch.add_column(sa.Column("events", sa.JSON(), nullable=True))
    with op.batch_alter_table("mail_settings") as batch:
        batch.add_column(sa.Column("notify_events", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_settings") as batch:
        batch.drop_column("notify_events")
    with op.batch_alter_table("notification_prefs") as batch:
        batch.drop_column("events")
