"""/v1/workflows and /v1/workflow-runs: upload definitions, start runs, follow them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..deps import Allowed
from ..errors import ERROR_RESPONSES, not_found
from ..models import FlowDefinition, FlowRun
from ..workflows import service
from .pages import Limit, Offset, page

router = APIRouter(tags=["workflows"], responses=ERROR_RESPONSES)


class DefinitionUpload(BaseModel):
    text: str = Field(max_length=256 * 1024, description="The definition's YAML text.")


class WorkflowDefinition(BaseModel):
    id: str
    name: str
    version: int
    sha256: str
    description: str | None = None
    created_at: datetime
    created_by: str | None = None


class WorkflowDefinitionText(WorkflowDefinition):
    text: str = Field(description="The definition's YAML, as uploaded.")


class WorkflowDefinitionPage(BaseModel):
    items: list[WorkflowDefinition]
    total: int
    limit: int
    offset: int


class RunStart(BaseModel):
    input: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(
        None, ge=1, le=2**31 - 1, description="A version; the newest when left out."
    )


class RunStep(BaseModel):
    name: str
    action: str | None = None
    status: str
    attempts: int = 0
    error: dict | None = None
    output: Any = None
    signal: str | None = Field(None, description="What a waiting step listens for.")
    until: str | None = Field(None, description="When a waiting step's wait ends.")
    parked: bool = Field(False, description="The run waits parked: no thread, no queue slot.")


class EngineStatus(BaseModel):
    """What the workflow engine (DBOS) records of the run: ENQUEUED, PENDING, SUCCESS,
    ERROR, CANCELLED, ...; a run whose ``status`` stays ``running`` while this says
    ERROR or CANCELLED stopped outside the interpreter's control. A run parked in a long
    wait is carried by its continuation (``workflow_id`` ``RUN~N``, DELAYED until the
    wait ends)."""

    workflow_id: str | None = None
    status: str
    executor_id: str | None = None
    app_version: str | None = None
    recovery_attempts: int | None = None


class WorkflowRun(BaseModel):
    id: str
    name: str
    version: int
    status: str
    subject: str | None = Field(None, description="What the run is about (`subject:`).")
    input: dict
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    deadline_at: datetime | None = Field(
        None, description="When the run times out (its `timeout`, from its start or resume)."
    )
    cancel_requested_at: datetime | None = None
    resumed_at: datetime | None = None
    steps: list[RunStep] | None = None
    engine: EngineStatus | None = None


class WorkflowRunPage(BaseModel):
    items: list[WorkflowRun]
    total: int
    limit: int
    offset: int


def definition_out(row: FlowDefinition) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(row, from_attributes=True)


def _step_out(name: str, s: dict) -> RunStep:
    waits = s.get("status") in service.WAITING  # what it waits for, until when, parked
    return RunStep(
        name=name,
        action=s.get("action"),
        status=s.get("status", "unknown"),
        attempts=s.get("attempts", 0),
        error=s.get("error"),
        output=s.get("output"),
        signal=s.get("signal") if waits else None,
        until=(s.get("until") or s.get("parked")) if waits else None,
        parked=waits and bool(s.get("parked")),
    )


def run_out(row: FlowRun, *, steps: bool = False) -> WorkflowRun:
    out = WorkflowRun(
        id=row.id,
        name=row.name,
        version=row.version,
        status=row.status,
        subject=row.subject,
        input=row.input or {},
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        deadline_at=row.deadline_at,
        cancel_requested_at=row.cancel_requested_at,
        resumed_at=row.resumed_at,
    )
    if steps:
        ordered = sorted((row.steps or {}).items(), key=lambda kv: kv[1].get("seq", 0))
        out.steps = [_step_out(name, s) for name, s in ordered]
    return out


@router.post("/v1/workflows", status_code=201, response_model=WorkflowDefinition)
def upload_workflow(
    body: DefinitionUpload, ctx: Allowed("workflows:admin"), response: Response
) -> WorkflowDefinition:
    """Upload a definition (checked as `qylon workflows validate` does, and its actions must
    exist). Each `version:` of a name is stored once: the same text again answers 200."""
    row, created = service.upload(ctx.session, ctx.principal, text=body.text)
    if not created:
        response.status_code = 200
    return definition_out(row)


@router.get("/v1/workflows", response_model=WorkflowDefinitionPage)
def list_workflows(
    ctx: Allowed("workflows:read"),
    name: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> WorkflowDefinitionPage:
    """Uploaded definitions, by name and newest version first."""
    stmt = select(FlowDefinition)
    if name:
        stmt = stmt.where(FlowDefinition.name == name)
    rows, total = page(
        ctx.session,
        stmt,
        limit=limit,
        offset=offset,
        order_by=[FlowDefinition.name, FlowDefinition.version.desc()],
    )
    return WorkflowDefinitionPage(
        items=[definition_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/v1/workflows/{name}", response_model=WorkflowDefinitionText)
def read_workflow(
    name: Annotated[str, Path(max_length=64)],
    ctx: Allowed("workflows:read"),
    version: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="The newest when left out.")
    ] = None,
) -> WorkflowDefinitionText:
    """One definition with its YAML text: the newest version, or `version`."""
    row = service.find(ctx.session, name, version)
    if row is None:
        raise not_found("Workflow")
    return WorkflowDefinitionText.model_validate(row, from_attributes=True)


@router.post("/v1/workflows/{name}/runs", status_code=202, response_model=WorkflowRun)
def start_run(
    name: Annotated[str, Path(max_length=64)],
    body: RunStart,
    ctx: Allowed("workflows:run"),
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=8,
            max_length=200,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="One per run: a repeated key answers the run it started.",
        ),
    ] = None,
) -> WorkflowRun:
    """Start a run (queued; a server process with a workflow executor runs it)."""
    row, created = service.start(
        ctx.session,
        ctx.principal,
        request.app.state.workflows,
        name=name,
        inputs=body.input,
        version=body.version,
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = 200
    return run_out(row)


@router.get("/v1/workflow-runs", response_model=WorkflowRunPage)
def list_runs(
    ctx: Allowed("workflows:read"),
    status: Literal[service.STATUSES] | None = None,
    name: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[
        str | None, Query(max_length=500, description="Only runs about this (`subject:`).")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> WorkflowRunPage:
    """Runs, newest first."""
    rows, total = service.list_runs(
        ctx.session, status=status, name=name, subject=subject, limit=limit, offset=offset
    )
    return WorkflowRunPage(
        items=[run_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/v1/workflow-runs/{run_id}", response_model=WorkflowRun)
def read_run(
    run_id: Annotated[str, Path(max_length=64)], ctx: Allowed("workflows:read"), request: Request
) -> WorkflowRun:
    """One run with its steps: status, attempts, error and output of each."""
    row = ctx.session.get(FlowRun, run_id)
    if row is None:
        raise not_found("Workflow run")
    out = run_out(row, steps=True)
    engine = service.engine_status(request.app.state.workflows, row)
    out.engine = EngineStatus(**engine) if engine else None
    return out


class SignalBody(BaseModel):
    payload: Any = Field(None, description="What the waiting step gets as its output.")


@router.post(
    "/v1/workflow-runs/{run_id}/signal/{signal}", status_code=202, response_model=WorkflowRun
)
@router.post(  # the first spelling, kept for scripts written against it
    "/v1/workflow-runs/{run_id}/signals/{signal}",
    status_code=202,
    response_model=WorkflowRun,
    deprecated=True,
)
def signal_run(
    run_id: Annotated[str, Path(max_length=64)],
    signal: Annotated[str, Path(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")],
    body: SignalBody,
    ctx: Allowed("workflows:run"),
    request: Request,
) -> WorkflowRun:
    """Send a signal to a run: its `wait_for` step for that signal goes on, with the
    payload as output; `clock` ends a `sleep` early. A finished run ignores it."""
    row = service.signal(
        ctx.session,
        ctx.principal,
        request.app.state.workflows,
        run_id=run_id,
        name=signal,
        payload=body.payload,
    )
    return run_out(row)


@router.post("/v1/workflow-runs/{run_id}/cancel", status_code=202, response_model=WorkflowRun)
def cancel_run(
    run_id: Annotated[str, Path(max_length=64)], ctx: Allowed("workflows:run"), request: Request
) -> WorkflowRun:
    """Ask a run to stop: it stops before its next step or attempt (a wait or a retry's
    backoff ends at once), its completed steps are compensated in reverse order, and it
    ends `cancelled`. A finished run answers 409."""
    row = service.cancel(ctx.session, ctx.principal, request.app.state.workflows, run_id=run_id)
    return run_out(row, steps=True)


@router.post("/v1/workflow-runs/{run_id}/resume", status_code=202, response_model=WorkflowRun)
def resume_run(
    run_id: Annotated[str, Path(max_length=64)], ctx: Allowed("workflows:run"), request: Request
) -> WorkflowRun:
    """Go on with a run that stopped: a `failed`, `cancelled` or `timed_out` run whose
    steps were not undone goes on from the step that stopped it; a run whose compensation
    failed retries it; a run the engine gave up on restarts from its last checkpoint.
    Anything else answers 409."""
    row = service.resume(ctx.session, ctx.principal, request.app.state.workflows, run_id=run_id)
    return run_out(row, steps=True)
