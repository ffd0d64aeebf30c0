"""Meetings carry the agent's edit time (``edited_at``: the newest edit wins, an older one
is refused) and where their date came from (``date_source``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("meetings", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("meetings", sa.Column("date_source", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("date_source")
        batch.drop_column("edited_at")
