"""An organisation's integration connections (issue 21): ``integration_connections``, one
sealed credentials document per organisation and integration, with forced row-level
security.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "integration_connections",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("refreshed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_integration_connections_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("org_id", "name", name=op.f("pk_integration_connections")),
    )
    tenant_isolation("integration_connections")


def downgrade() -> None:
    op.drop_table("integration_connections")
