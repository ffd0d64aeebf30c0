"""Onboarding email sequences (issue 20): ``users.time_zone``; ``email_sequences`` (the
uploaded versions), ``onboardings`` (one person's run of one sequence, a projection of
their ``onboarding:USER`` events), ``mail_suppressions`` (unsubscribed or bouncing
addresses) and ``mail_settings`` (an organisation's relay and sender). Each with forced
row-level security.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("email_sequences", "onboardings", "mail_suppressions", "mail_settings")


def _org(table: str) -> list:
    return [
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f(f"fk_{table}_org_id_organisations")
        ),
    ]


def upgrade() -> None:
    # plain ALTER TABLE (SQLite too): a batch copy of users would lose its expression index
    op.add_column("users", sa.Column("time_zone", sa.String(length=64), nullable=True))
    op.create_table(
        "email_sequences",
        sa.Column("id", sa.String(length=36), nullable=False),
        *_org("email_sequences"),
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("templates", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_sequences")),
        sa.UniqueConstraint(
            "org_id", "name", "version", name="uq_email_sequences_org_name_version"
        ),
    )
    op.create_table(
        "onboardings",
        sa.Column("id", sa.String(length=36), nullable=False),
        *_org("onboardings"),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("sequence", sa.String(length=48), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("emails_sent", sa.Integer(), nullable=False),
        sa.Column("last_step", sa.String(length=64), nullable=True),
        sa.Column("last_email_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboardings")),
        sa.UniqueConstraint(
            "org_id", "user_id", "sequence", name="uq_onboardings_org_user_sequence"
        ),
    )
    op.create_table(
        "mail_suppressions",
        *_org("mail_suppressions"),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "email", name=op.f("pk_mail_suppressions")),
    )
    op.create_table(
        "mail_settings",
        *_org("mail_settings"),
        sa.Column("smtp_url", sa.String(length=500), nullable=True),
        sa.Column("mail_from", sa.String(length=320), nullable=True),
        sa.Column("country", sa.String(length=6), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("updated_by", sa.String(length=36), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_mail_settings")),
    )
    for table in TABLES:
        tenant_isolation(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    op.execute("ALTER TABLE users DROP COLUMN time_zone")  # SQLite 3.35 and later too
