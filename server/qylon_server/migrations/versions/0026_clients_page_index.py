"""The clients page in index order (issue 23): ``GET /v1/clients`` lists an organisation's
clients of one status by ``lower(name), id``, 50 at a time; without an index on that
order the database read and sorted every matching client for each page.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_clients_org_status_name",
        "clients",
        ["org_id", "status", sa.text("lower(name)"), "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_clients_org_status_name", table_name="clients")
