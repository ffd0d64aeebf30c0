"""Transcription jobs (docs/workers.md): recordings queued on the server for workers
(`qylon agent worker`, agents elsewhere) to transcribe. Re-exported by ``models``.

The audio sits in a table of its own, so that listing jobs never reads it, and is
deleted when the job ends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, OrgScoped, new_id, now


class TranscriptionJob(OrgScoped, Base):
    """One recording to transcribe. ``meeting_id`` is chosen at submission, so however
    many workers finish it, it becomes one meeting. ``lease`` is the id of the current
    worker's claim: renewals and the completion carry it, and a worker whose lease was
    taken over is refused."""

    __tablename__ = "transcription_jobs"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key", name="uq_transcription_jobs_org_key"),
        Index("ix_transcription_jobs_queue", "org_id", "status", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(500))
    client: Mapped[str | None] = mapped_column(String(200))
    meeting_id: Mapped[str] = mapped_column(String(36), default=new_id)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    submitted_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(100))
    lease: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(1000))


class TranscriptionAudio(OrgScoped, Base):
    """A queued job's recording, as uploaded."""

    __tablename__ = "transcription_audio"
    job_id: Mapped[str] = mapped_column(
        ForeignKey("transcription_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
