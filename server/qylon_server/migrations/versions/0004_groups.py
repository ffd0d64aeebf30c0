"""Groups (SCIM Groups and the groups of an import) with their members; on users, the time
an identity provider deleted them (``deprovisioned_at``: deactivated, gone from SCIM) and
their login there when it is not their email (``user_name``, unique case-insensitively)
and the rest of their SCIM representation (``scim``), returned as it was sent.

Until now a user's groups were only names in ``users.groups``; this makes each name a
group of the organisation and each name on a user a membership. ``users.groups`` stays,
as the cache of each user's group names that the Provisioner keeps in step.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NEW_TABLES = ["groups", "group_members"]


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deprovisioned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("user_name", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("scim", sa.JSON(), nullable=True))
    op.create_index(
        "ix_users_org_user_name",
        "users",
        ["org_id", sa.text("lower(user_name)")],
        unique=True,
        postgresql_where=sa.text("user_name IS NOT NULL"),
        sqlite_where=sa.text("user_name IS NOT NULL"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_groups_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("org_id", "name_key", name="uq_groups_org_name_key"),
        sa.UniqueConstraint("org_id", "external_id", name="uq_groups_org_external_id"),
    )
    op.create_table(
        "group_members",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("display", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_group_members_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_group_members_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_group_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    op.create_index(op.f("ix_group_members_org_id"), "group_members", ["org_id"])
    op.create_index(op.f("ix_group_members_user_id"), "group_members", ["user_id"])
    _backfill()
    for table in NEW_TABLES:
        tenant_isolation(table)  # PostgreSQL only


def _backfill() -> None:
    """A group for each distinct name (per organisation, case-insensitively), a membership
    for each name on a user. Runs as the migrating role (the tables' owner or a superuser)."""
    conn = op.get_bind()
    groups: dict[tuple[str, str], str] = {}
    group_rows, member_rows = [], []
    at = datetime.now(UTC)
    if conn.dialect.name == "sqlite":
        at = at.replace(tzinfo=None)
    for user_id, org_id, names in conn.execute(
        sa.text("SELECT id, org_id, groups FROM users WHERE groups IS NOT NULL")
    ):
        if isinstance(names, str):
            names = json.loads(names)
        for name in names or []:
            key = (org_id, name.casefold())
            if key not in groups:
                groups[key] = str(uuid.uuid4())
                group_rows.append(
                    {
                        "id": groups[key],
                        "org_id": org_id,
                        "display_name": name,
                        "name_key": key[1],
                        "created_at": at,
                        "updated_at": at,
                    }
                )
            member_rows.append({"org_id": org_id, "group_id": groups[key], "user_id": user_id})
    if group_rows:
        table = sa.table("groups", *(sa.column(c) for c in group_rows[0]))
        conn.execute(table.insert(), group_rows)
    if member_rows:
        table = sa.table(
            "group_members", *(sa.column(c) for c in ("org_id", "group_id", "user_id"))
        )
        conn.execute(
            table.insert(), list({(r["group_id"], r["user_id"]): r for r in member_rows}.values())
        )


def downgrade() -> None:
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_index("ix_users_org_user_name", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("scim")
        batch.drop_column("user_name")
        batch.drop_column("deprovisioned_at")
