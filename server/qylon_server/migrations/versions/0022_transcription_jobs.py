"""Transcription jobs (issue 23): ``transcription_jobs`` (recordings queued for workers,
each under a lease while a worker transcribes it) and ``transcription_audio`` (a job's
recording until it ends). Each with forced row-level security.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TABLES = ("transcription_jobs", "transcription_audio")
WHEN = sa.DateTime(timezone=True)


def _org(table: str) -> list:
    return [
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f(f"fk_{table}_org_id_organisations")
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "transcription_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        *_org("transcription_jobs"),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("client", sa.String(length=200), nullable=True),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("submitted_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("lease", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", WHEN, nullable=True),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcription_jobs")),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_transcription_jobs_org_key"),
    )
    op.create_index(op.f("ix_transcription_jobs_org_id"), "transcription_jobs", ["org_id"])
    op.create_index(
        "ix_transcription_jobs_queue", "transcription_jobs", ["org_id", "status", "created_at"]
    )
    op.create_table(
        "transcription_audio",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        *_org("transcription_audio"),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["transcription_jobs.id"],
            name=op.f("fk_transcription_audio_job_id_transcription_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_transcription_audio")),
    )
    op.create_index(op.f("ix_transcription_audio_org_id"), "transcription_audio", ["org_id"])
    for table in TABLES:
        tenant_isolation(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
