"""User provisioning: more user fields, invitations, idempotency keys for bulk requests.

Also drops ix_users_org_id: uq_users_org_email (org_id, email) serves the same look-ups,
and with both present PostgreSQL mis-plans email look-ups on stale statistics. For the
same reason uq_users_org_external_id becomes a partial index (only users with an
external id), which a condition on org_id alone cannot use.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ORG = "current_setting('app.org_id', true)"
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
        batch.drop_constraint("uq_users_org_external_id", type_="unique")
        for column in USER_COLUMNS:
            batch.add_column(column._copy())
    op.create_index("uq_users_org_external_id", "users", ["org_id", "external_id"], unique=True,
                    postgresql_where=sa.text("external_id IS NOT NULL"), sqlite_where=sa.text("external_id IS NOT NULL"))
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
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_invitations_org_id_organisations")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users")),
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
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_idempotency_keys_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("org_id", "key", name="uq_idempotency_keys_org_key"),
    )
    op.create_index(op.f("ix_idempotency_keys_org_id"), "idempotency_keys", ["org_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} USING (org_id = {ORG}) WITH CHECK (org_id = {ORG})"
            )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("invitations")
    op.drop_index("uq_users_org_external_id", table_name="users")
    with op.batch_alter_table("users") as batch:
        for column in USER_COLUMNS:
            batch.drop_column(column.name)
        batch.create_unique_constraint("uq_users_org_external_id", ["org_id", "external_id"])
    op.create_index("ix_users_org_id", "users", ["org_id"])
