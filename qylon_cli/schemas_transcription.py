"""Wire schemas of the team server's transcription jobs (docs/workers.md): recordings
queued on the server, taken by `qylon agent worker` processes under a lease, and
completed with the meeting they became. Shared by the server's routes and the CLI."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .schemas import Meeting

STATUSES = ("queued", "running", "completed", "failed", "cancelled")


class TranscriptionJob(BaseModel):
    id: str
    status: str = Field(description="queued, running, completed, failed or cancelled.")
    filename: str = Field(description="The recording's file name as submitted.")
    size_bytes: int
    sha256: str = Field(description="Of the recording, for the worker to check what it fetched.")
    title: str | None = None
    client: str | None = None
    meeting_id: str = Field(description="The meeting this job becomes (fixed when submitted).")
    submitted_by: str
    created_at: datetime
    attempts: int = Field(description="How many times a worker took it.")
    worker: str | None = Field(None, description="The worker holding it (or that finished it).")
    lease_expires_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class TranscriptionJobPage(BaseModel):
    items: list[TranscriptionJob]
    total: int
    limit: int
    offset: int


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: str = Field(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:@-]+$", description="A stable name."
    )
    concurrency: int = Field(
        1, ge=1, le=64, description="Jobs this worker runs at once (the server may allow fewer)."
    )


class Lease(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease: str = Field(min_length=1, max_length=64, description="The lease's id, from the claim.")


class Claimed(BaseModel):
    job: TranscriptionJob | None = Field(None, description="None: nothing to take now.")
    lease: str | None = None
    lease_s: float | None = Field(None, description="Renew well before this many seconds pass.")
    retry_after_s: float | None = Field(
        None, description="With no job: when to ask again (at a limit, or an empty queue)."
    )


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease: str = Field(min_length=1, max_length=64)
    meeting: Meeting


class Failure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease: str = Field(min_length=1, max_length=64)
    error: str = Field(min_length=1, max_length=1000)
    retry: bool = Field(
        False, description="True: put it back on the queue (a fault of this worker)."
    )
