"""Experiments wired into onboarding: ``experiments.goal`` (the event type that converts
an exposed person) and ``experiments.templates`` (the text of the templates its variants
put in place of the target's), ``onboardings.run_sequence`` (the sequence a variant runs
instead of the one asked for), ``onboardings.experiment_id`` and ``onboardings.variant``,
and an index of the funnel by person (the goal listener looks a person's exposures up on
every event that names them).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("experiments", sa.Column("goal", sa.String(length=100), nullable=True))
    op.add_column("experiments", sa.Column("templates", sa.JSON(), nullable=True))
    op.add_column("onboardings", sa.Column("run_sequence", sa.String(length=48), nullable=True))
    op.add_column("onboardings", sa.Column("experiment_id", sa.String(length=36), nullable=True))
    op.add_column("onboardings", sa.Column("variant", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_experiment_exposures_user_id"), "experiment_exposures", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_experiment_exposures_user_id"), table_name="experiment_exposures")
    with op.batch_alter_table("onboardings") as batch:
        batch.drop_column("variant")
        batch.drop_column("experiment_id")
        batch.drop_column("run_sequence")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("templates")
        batch.drop_column("goal")
