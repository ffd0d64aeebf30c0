"""User provisioning: more user fields, invitations, idempotency keys for bulk requests.

Also drops ix_users_org_id: uq_users_org_email (org_id, email) serves the same look-ups,
and with both present PostgreSQL mis-plans email look-ups on stale statistics.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEW_TABLES = ["invitations", "idempotency_keys"]
USER_COLUMNS = [
    sa.Column("location", sa.String(length=200), nullable=True),
    sa.Column("start_date", sa.String(length=10), nullable=True),
    sa.Column("phone", sa.String(length=32), nullable=True),
    sa.Column("team", sa.String(length=200), nullable=True),
    sa.Column("groups", sa.JSON(), nullable=True),
    sa.Column("attributes", sa.JSON(), nullable=True),
]


def upgrade() -> None:
    op.drop_index("ix_users_org_id", table_name="users")
    with op.batch_alter_table("users") as batch:
        for column in USER_COLUMNS:
            batch.add_column(column._copy())
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("invited_by", sa.String(length=36), nullable=True),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_invitations_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
    )
    op.create_index(op.f("ix_invitations_org_id"), "invitations", ["org_id"])
    op.create_index(op.f("ix_invitations_user_id"), "invitations", ["user_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_idempotency_keys_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("org_id", "key", name="uq_idempotency_keys_org_key"),
    )
    op.create_index(op.f("ix_idempotency_keys_org_id"), "idempotency_keys", ["org_id"])
    for table in NEW_TABLES:
        tenant_isolation(table)  # PostgreSQL only


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("invitations")
    with op.batch_alter_table("users") as batch:
        for column in USER_COLUMNS:
            batch.drop_column(column.name)
    op.create_index("ix_users_org_id", "users", ["org_id"])
