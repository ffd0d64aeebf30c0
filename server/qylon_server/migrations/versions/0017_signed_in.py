"""Sign-ins once per person per day (issue 20): ``users.signed_in_on``, the UTC day of a
person's latest authenticated request. When it changes, the request appends a
``user.signed_in`` event, which the engagement score counts (an API key's
``last_used_at`` keeps only its latest use, so it counted each key once).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("signed_in_on", sa.Date(), nullable=True))


def downgrade() -> None:
    # not a batch: SQLite's copy-and-move would drop the expression index on user_name
    op.execute("ALTER TABLE users DROP COLUMN signed_in_on")  # SQLite 3.35 and later too
