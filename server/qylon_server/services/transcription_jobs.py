"""Transcription jobs (docs/workers.md): the team's recordings queued for workers.

The server never runs speech code: a job waits here until a worker (`qylon agent
worker`, an agent holding a ``transcribe`` key) claims it. A claim is a lease: the
worker renews it while it works; once it lapses (the worker was killed, lost its
network) the next claim takes the job over, with a new lease id, so the old worker's
renewals and completion are refused (409 ``lease_lost``).

Exactly one meeting per job: the meeting's id is fixed at submission and stored through
``services.meetings`` (idempotent by id), and a completion is accepted only under the
job's current lease (repeating it changes nothing).

Limits, checked in the claim's transaction: jobs running at once in the organisation
(``transcription_concurrency``, all workers together) and per worker (what it asks for,
at most ``transcription_worker_concurrency``). On PostgreSQL, claims of one organisation
take a transaction advisory lock, so two claims never both see a free place; on SQLite
the database's one writer does the same.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from qylon_cli.schemas import Meeting
from qylon_cli.schemas_transcription import Claimed, TranscriptionJob

from ..errors import ApiError
from ..models import TranscriptionAudio, now
from ..models import TranscriptionJob as Job
from . import audit, meetings
from .rows import get_or_404

ENDED = ("completed", "failed", "cancelled")
IDLE_RETRY_S = 2.0  # an empty queue: when a worker should ask again
BUSY_RETRY_S = 1.0  # at a limit


def out(row: Job) -> TranscriptionJob:
    return TranscriptionJob.model_validate(row, from_attributes=True)


def _audit(session, principal, action: str, row: Job, **detail) -> None:
    audit.record(
        session, principal, action, target_type="transcription_job", target_id=row.id, detail=detail
    )


def submit(
    session: Session,
    principal,
    *,
    content: bytes,
    filename: str,
    title: str | None,
    client: str | None,
    idempotency_key: str | None,
) -> tuple[Job, bool]:
    """Queue a recording; (row, created). The same Idempotency-Key again returns the job
    it made (409 when it came with other audio)."""
    if not content:
        raise ApiError(422, "The request body is empty: send the recording.", code="invalid_input")
    digest = hashlib.sha256(content).hexdigest()
    if idempotency_key:
        same = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if same is not None:
            if same.sha256 != digest:
                raise ApiError(
                    409,
                    f"Idempotency-Key {idempotency_key!r} was used for another recording.",
                    code="idempotency_conflict",
                    hint="Use a new key for each recording.",
                )
            return same, False
    row = Job(
        org_id=principal.org_id,
        filename=filename,
        size_bytes=len(content),
        sha256=digest,
        title=title,
        client=client,
        idempotency_key=idempotency_key,
        submitted_by=principal.user.id,
        status="queued",
        attempts=0,
        created_at=now(),
    )
    session.add(row)
    session.flush()
    session.add(TranscriptionAudio(job_id=row.id, org_id=principal.org_id, content=content))
    _audit(
        session, principal, "transcription_job.submit", row, filename=filename, bytes=len(content)
    )
    return row, True


def get(session: Session, job_id: str, *, lock: bool = False) -> Job:
    if lock:
        row = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
        if row is None:
            get_or_404(session, Job, job_id, what="Transcription job")
        return row
    return get_or_404(session, Job, job_id, what="Transcription job")


def listing(status: str | None):
    stmt = select(Job)
    return stmt.where(Job.status == status) if status else stmt


def cancel(session: Session, principal, row: Job) -> Job:
    if row.submitted_by != principal.user.id and not principal.can("transcription:admin"):
        raise ApiError(
            403, "Only its submitter or an admin may cancel this job.", code="not_allowed"
        )
    if row.status in ENDED:
        raise ApiError(409, f"The job is already {row.status}.", code="job_ended")
    row.status, row.finished_at, row.lease_expires_at = "cancelled", now(), None
    _drop_audio(session, row)
    _audit(session, principal, "transcription_job.cancel", row, worker=row.worker)
    return row


def _drop_audio(session: Session, row: Job) -> None:
    audio = session.get(TranscriptionAudio, row.id)
    if audio is not None:
        session.delete(audio)


def _lock_queue(session: Session, org_id: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"qylon-transcription:{org_id}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(key)))


def claim(session: Session, principal, settings, *, worker: str, concurrency: int) -> Claimed:
    """Take the oldest queued job, or one whose lease lapsed, under a new lease; a
    ``Claimed`` without a job when there is none or a limit is reached."""
    _lock_queue(session, principal.org_id)
    at = now()
    live = (Job.status == "running") & (Job.lease_expires_at >= at)
    limit = settings.transcription_concurrency
    if limit is not None and session.scalar(select(func.count(Job.id)).where(live)) >= limit:
        return Claimed(retry_after_s=BUSY_RETRY_S)
    mine = session.scalar(select(func.count(Job.id)).where(live, Job.worker == worker))
    if mine >= min(concurrency, settings.transcription_worker_concurrency):
        return Claimed(retry_after_s=BUSY_RETRY_S)
    takeable = or_(Job.status == "queued", and_(Job.status == "running", Job.lease_expires_at < at))
    query = select(Job).where(takeable).order_by(Job.created_at, Job.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    while (row := session.scalar(query)) is not None:
        lost = row.worker if row.status == "running" else None
        if lost and row.attempts >= settings.transcription_max_attempts:
            row.status, row.finished_at, row.lease_expires_at = "failed", at, None
            row.error = f"Workers were lost {row.attempts} times on this recording (last: {lost})."
            _drop_audio(session, row)
            _audit(session, principal, "transcription_job.fail", row, error=row.error)
            session.flush()
            continue
        row.status, row.worker, row.lease = "running", worker, secrets.token_urlsafe(24)
        row.lease_expires_at = at + timedelta(seconds=settings.transcription_lease_s)
        row.attempts += 1
        row.started_at, row.error = at, None
        _audit(
            session, principal, "transcription_job.claim", row, worker=worker, took_over_from=lost
        )
        return Claimed(job=out(row), lease=row.lease, lease_s=settings.transcription_lease_s)
    return Claimed(retry_after_s=IDLE_RETRY_S)


def _held(row: Job, lease: str) -> None:
    """409 unless ``lease`` is the job's current one and the job still runs."""
    if row.status in ("failed", "cancelled"):
        raise ApiError(409, f"The job was {row.status}: stop working on it.", code="job_ended")
    if row.lease != lease:
        raise ApiError(
            409,
            "This lease lapsed and the job was taken over by another worker: stop working on it.",
            code="lease_lost",
        )


def renew(session: Session, settings, row: Job, lease: str) -> Job:
    """Extend the lease (also one that lapsed, while no one took the job over)."""
    _held(row, lease)
    if row.status != "running":
        raise ApiError(409, f"The job is already {row.status}.", code="job_ended")
    row.lease_expires_at = now() + timedelta(seconds=settings.transcription_lease_s)
    return row


def audio(session: Session, row: Job, lease: str) -> bytes:
    _held(row, lease)
    stored = session.get(TranscriptionAudio, row.id)
    if stored is None or row.status != "running":
        raise ApiError(409, f"The job is already {row.status}.", code="job_ended")
    return stored.content


def complete(session: Session, principal, row: Job, lease: str, meeting: Meeting) -> Job:
    """Store the meeting (under the job's meeting id) and end the job. Repeating the
    completion of the lease that completed it changes nothing; any other lease is refused."""
    _held(row, lease)
    if row.status == "completed":
        return row
    meeting = meeting.model_copy(update={"id": row.meeting_id})
    meetings.put(session, principal, row.meeting_id, meeting)
    row.status, row.finished_at, row.lease_expires_at = "completed", now(), None
    _drop_audio(session, row)
    _audit(session, principal, "transcription_job.complete", row, worker=row.worker)
    return row


def fail(session: Session, principal, settings, row: Job, lease: str, error: str, retry: bool):
    """A worker gives the job up: back to the queue (``retry``, until the attempts run
    out), or failed for good (the recording itself is at fault)."""
    _held(row, lease)
    if row.status != "running":
        raise ApiError(409, f"The job is already {row.status}.", code="job_ended")
    row.error = error
    if retry and row.attempts < settings.transcription_max_attempts:
        row.status, row.lease, row.lease_expires_at = "queued", None, None
    else:
        row.status, row.finished_at, row.lease_expires_at = "failed", now(), None
        _drop_audio(session, row)
    _audit(session, principal, "transcription_job.fail", row, error=error, retry=retry)
    return row
