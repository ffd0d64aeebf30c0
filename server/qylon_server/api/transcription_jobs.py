"""/v1/transcription-jobs: recordings queued for transcription workers (docs/workers.md).

People submit, list and cancel (``transcription:submit``, ``transcription:read``);
workers (``qylon agent worker`` with a ``transcribe`` key) claim a job under a lease,
renew it, fetch its audio and post the meeting back (``transcription:work``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response

from qylon_cli.schemas_transcription import (
    STATUSES,
    Claimed,
    ClaimRequest,
    Completion,
    Failure,
    Lease,
    TranscriptionJob,
    TranscriptionJobPage,
)

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..models import TranscriptionJob as JobRow
from ..services import transcription_jobs as jobs
from .pages import Limit, Offset, page

router = APIRouter(
    prefix="/v1/transcription-jobs", tags=["transcription jobs"], responses=ERROR_RESPONSES
)
JobId = Annotated[str, Path(max_length=36)]
WORK = "transcription:work"


@router.post(
    "",
    status_code=201,
    response_model=TranscriptionJob,
    responses={200: {"model": TranscriptionJob, "description": "Already submitted (same key)"}},
)
def submit(
    ctx: Allowed("transcription:submit"),
    response: Response,
    content: Annotated[
        bytes, Body(media_type="application/octet-stream", description="The recording.")
    ],
    filename: Annotated[str, Query(min_length=1, max_length=255)],
    title: Annotated[str | None, Query(max_length=500)] = None,
    client: Annotated[str | None, Query(max_length=200)] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=8,
            max_length=200,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="A repeated key returns the job it made and queues nothing.",
        ),
    ] = None,
) -> TranscriptionJob:
    """Queue a recording (the request body, any format the agent reads) for a worker."""
    row, created = jobs.submit(
        ctx.session,
        ctx.principal,
        content=content,
        filename=filename.replace("/", "_").replace("\\", "_"),
        title=title,
        client=client,
        idempotency_key=idempotency_key,
    )
    response.status_code = 201 if created else 200
    return jobs.out(row)


@router.get("", response_model=TranscriptionJobPage)
def list_jobs(
    ctx: Allowed("transcription:read"),
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> TranscriptionJobPage:
    """The organisation's jobs, newest first."""
    rows, total = page(
        ctx.session,
        jobs.listing(status),
        limit=limit,
        offset=offset,
        order_by=[JobRow.created_at.desc(), JobRow.id],
    )
    return TranscriptionJobPage(
        items=[jobs.out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/claim", response_model=Claimed)
def claim(body: ClaimRequest, ctx: Allowed(WORK), request: Request) -> Claimed:
    """Take the oldest waiting job (or one whose worker's lease lapsed) under a new
    lease; ``job`` is null when there is none, or a limit is reached."""
    settings = request.app.state.settings
    return jobs.claim(
        ctx.session, ctx.principal, settings, worker=body.worker, concurrency=body.concurrency
    )


@router.get("/{job_id}", response_model=TranscriptionJob)
def read_job(job_id: JobId, ctx: Allowed("transcription:read")) -> TranscriptionJob:
    return jobs.out(jobs.get(ctx.session, job_id))


@router.post("/{job_id}/cancel", response_model=TranscriptionJob)
def cancel(job_id: JobId, ctx: Allowed("transcription:submit")) -> TranscriptionJob:
    """Cancel a queued or running job (its worker's next renewal tells it to stop)."""
    return jobs.out(
        jobs.cancel(ctx.session, ctx.principal, jobs.get(ctx.session, job_id, lock=True))
    )


@router.post("/{job_id}/renew", response_model=TranscriptionJob)
def renew(job_id: JobId, body: Lease, ctx: Allowed(WORK), request: Request) -> TranscriptionJob:
    """Extend the lease; 409 ``lease_lost`` or ``job_ended`` says to stop."""
    row = jobs.get(ctx.session, job_id, lock=True)
    return jobs.out(jobs.renew(ctx.session, request.app.state.settings, row, body.lease))


@router.get(
    "/{job_id}/audio",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def audio(
    job_id: JobId, ctx: Allowed(WORK), lease: Annotated[str, Query(max_length=64)]
) -> Response:
    """The recording, to the worker holding the job's lease."""
    row = jobs.get(ctx.session, job_id)
    content = jobs.audio(ctx.session, row, lease)
    return Response(
        content,
        media_type="application/octet-stream",
        # a header is Latin-1: the name percent-encoded (UTF-8), as in a URL
        headers={"X-Content-SHA256": row.sha256, "X-Filename": quote(row.filename)},
    )


@router.post("/{job_id}/complete", response_model=TranscriptionJob)
def complete(job_id: JobId, body: Completion, ctx: Allowed(WORK)) -> TranscriptionJob:
    """Store the transcribed meeting (under the job's meeting id) and end the job."""
    row = jobs.get(ctx.session, job_id, lock=True)
    return jobs.out(jobs.complete(ctx.session, ctx.principal, row, body.lease, body.meeting))


@router.post("/{job_id}/fail", response_model=TranscriptionJob)
def fail(job_id: JobId, body: Failure, ctx: Allowed(WORK), request: Request) -> TranscriptionJob:
    """Give the job up: back to the queue (``retry``) or failed with the error."""
    row = jobs.get(ctx.session, job_id, lock=True)
    settings = request.app.state.settings
    return jobs.out(
        jobs.fail(ctx.session, ctx.principal, settings, row, body.lease, body.error, body.retry)
    )
