"""uq_users_org_external_id becomes a partial unique index (only users with an external id).

As a plain (org_id, external_id) constraint it also served conditions on org_id alone,
and while ``users`` has no statistics (right after a big import, before autovacuum
analyses it) PostgreSQL planned email and id look-ups as a read of the whole
organisation through it. Partial, no org_id condition alone can use it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WHERE = sa.text("external_id IS NOT NULL")
USER_NAME = sa.text("user_name IS NOT NULL")


def upgrade() -> None:
    with _keeping_user_name_index(), op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_org_external_id", type_="unique")
    op.create_index(
        "uq_users_org_external_id",
        "users",
        ["org_id", "external_id"],
        unique=True,
        postgresql_where=WHERE,
        sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("uq_users_org_external_id", table_name="users")
    with _keeping_user_name_index(), op.batch_alter_table("users") as batch:
        batch.create_unique_constraint("uq_users_org_external_id", ["org_id", "external_id"])


@contextmanager
def _keeping_user_name_index():
    """SQLite's batch mode copies the table and cannot reflect an index on an expression
    (0004's lower(user_name)), so it would be lost: drop it first, make it again after."""
    op.drop_index("ix_users_org_user_name", table_name="users")
    yield
    op.create_index(
        "ix_users_org_user_name",
        "users",
        ["org_id", sa.text("lower(user_name)")],
        unique=True,
        postgresql_where=USER_NAME,
        sqlite_where=USER_NAME,
    )
