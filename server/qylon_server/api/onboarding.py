"""/v1/onboarding: email sequences (upload, list), onboardings (start, status, stop) and
the organisation's mail settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from qylon_cli.sequence_defs import Upload

from .. import deps
from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..models import EmailSequence
from ..services import mail_settings
from ..workflows import onboardings as onboarding
from ..workflows import sequences

router = APIRouter(tags=["onboarding"], responses=ERROR_RESPONSES)


class SequenceOut(BaseModel):
    id: str
    name: str
    version: int
    sha256: str
    description: str | None = None
    templates: list[str]
    workflow: str
    created_at: datetime


class SequencePage(BaseModel):
    items: list[SequenceOut]
    total: int


class OnboardingStart(BaseModel):
    email: str = Field(max_length=320)
    sequence: str = Field(max_length=48)


class BatchItem(BaseModel):
    user: str = Field(max_length=320, description="The person's email.")
    sequence: str = Field(max_length=48)


class OnboardingBatch(BaseModel):
    items: list[BatchItem] = Field(min_length=1, max_length=onboarding.MAX_BATCH)


class OnboardingStop(BaseModel):
    email: str = Field(max_length=320)
    sequence: str | None = Field(None, max_length=48)


class OnboardingOut(BaseModel):
    id: str
    user_id: str
    email: str
    sequence: str
    version: int
    run_id: str
    run_sequence: str | None = Field(
        None, description="The sequence that runs, when a variant put another in its place."
    )
    experiment: str | None = Field(None, description="The experiment that assigned a variant.")
    variant: str | None = None
    status: str = Field(description="running, completed or stopped")
    reason: str | None = Field(None, description="Why it stopped.")
    emails_sent: int
    last_step: str | None = None
    last_email_at: datetime | None = None
    started_at: datetime
    stopped_at: datetime | None = None
    next: dict | None = Field(None, description="The next email: step, due (UTC), local.")


class OnboardingPage(BaseModel):
    items: list[OnboardingOut]
    total: int


class BatchError(BaseModel):
    code: str
    message: str


class BatchResult(BaseModel):
    user: str
    sequence: str
    status: str = Field(description="started, already_running or error")
    onboarding: OnboardingOut | None = None
    error: BatchError | None = None


class BatchOut(BaseModel):
    results: list[BatchResult]
    started: int
    already_running: int
    errors: int


class MailSettingsIn(BaseModel):
    """Fields left out are left as they are; an empty string clears one."""

    smtp_url: str | None = Field(
        None, max_length=500, description="smtp://, smtp+starttls:// or smtps://; never shown."
    )
    mail_from: str | None = Field(None, max_length=320)
    country: str | None = Field(None, pattern=r"^([A-Z]{2}(-[A-Z0-9]{1,3})?)?$")
    time_zone: str | None = Field(None, max_length=64)


class MailSettingsOut(BaseModel):
    smtp_url_set: bool = Field(description="Whether the organisation set its own relay.")
    relay_host: str | None = None
    relay_source: str | None = Field(None, description="organisation, server or none")
    mail_from: str
    country: str | None = None
    time_zone: str | None = None


def _sequence(row: EmailSequence) -> SequenceOut:
    return SequenceOut(
        id=row.id,
        name=row.name,
        version=row.version,
        sha256=row.sha256,
        description=row.description,
        templates=sorted(row.templates or {}),
        workflow=sequences.workflow_name(row.name),
        created_at=row.created_at,
    )


def _out(session, row) -> OnboardingOut:
    out = OnboardingOut.model_validate(row, from_attributes=True)
    out.next = onboarding.next_email(session, row)
    out.experiment = onboarding.experiment_name(session, row)
    return out


@router.post("/v1/onboarding/sequences", status_code=201, response_model=SequenceOut)
def upload_sequence(
    body: Upload, ctx: Allowed("onboarding:admin"), response: Response
) -> SequenceOut:
    """Upload a sequence and its templates (a version is stored once; the same content
    again answers 200); it compiles to the workflow `onboarding.NAME`."""
    row, created = sequences.upload(
        ctx.session, ctx.principal, text=body.text, templates=body.templates
    )
    if not created:
        response.status_code = 200
    return _sequence(row)


@router.get("/v1/onboarding/sequences", response_model=SequencePage)
def list_sequences(ctx: Allowed("users:read")) -> SequencePage:
    """Every uploaded version, by name and newest first."""
    from sqlalchemy import select

    rows = ctx.session.scalars(
        select(EmailSequence).order_by(EmailSequence.name, EmailSequence.version.desc())
    ).all()
    return SequencePage(items=[_sequence(r) for r in rows], total=len(rows))


@router.post("/v1/onboarding", status_code=202, response_model=OnboardingOut)
def start_onboarding(
    body: OnboardingStart,
    ctx: Allowed("onboarding:admin"),
    request: Request,
    response: Response,
) -> OnboardingOut:
    """Start a sequence for a user; a second start for the same person and sequence
    answers the same onboarding (200)."""
    row, created = onboarding.start(
        ctx.session,
        ctx.principal,
        request.app.state.workflows,
        email=body.email,
        sequence=body.sequence,
    )
    if not created:
        response.status_code = 200
    return _out(ctx.session, row)


def _batch_caller(request: Request) -> tuple[deps.Principal, str | None]:
    """The caller of a batch and their key's hash, authenticated (and checked for
    ``onboarding:admin``) in a transaction that ends before the batch starts: each item
    then commits in a transaction of its own (``onboardings.start_many``)."""
    state = request.app.state
    token = deps.bearer_token(request)
    hashed = deps.key_hash(state, token)
    with state.db.session(None, key_hash=hashed) as session:
        principal = deps.authenticate(state, session, token, deps.client_ip(request))
        deps.require("onboarding:admin")(deps.Ctx(session, principal))
    return principal, hashed


@router.post("/v1/onboarding/batch", response_model=BatchOut)
def start_onboarding_batch(
    body: OnboardingBatch,
    caller: Annotated[tuple[deps.Principal, str | None], Depends(_batch_caller)],
    request: Request,
) -> BatchOut:
    """Start up to 500 `{user, sequence}` in one request: each is idempotent per person
    and sequence (`started`, or `already_running` for one started before), and commits
    on its own; one that fails (`error`, with its code and message) changes nothing and
    stops no other."""
    principal, hashed = caller
    done = onboarding.start_many(
        request.app.state.db,
        principal,
        request.app.state.workflows,
        [item.model_dump() for item in body.items],
        describe=_out,
        key_hash=hashed,
    )
    results = [BatchResult(**r) for r in done]
    count = {s: sum(1 for r in done if r["status"] == s) for s in ("started", "already_running")}
    return BatchOut(results=results, **count, errors=len(done) - sum(count.values()))


@router.get("/v1/onboarding", response_model=OnboardingPage)
def list_onboarding(
    ctx: Allowed("users:read"),
    email: Annotated[str | None, Query(max_length=320)] = None,
    sequence: Annotated[str | None, Query(max_length=48)] = None,
) -> OnboardingPage:
    """Onboardings, newest first: each with its status, emails sent and the next one."""
    rows = onboarding.listing(ctx.session, email=email, sequence=sequence)
    return OnboardingPage(items=[_out(ctx.session, r) for r in rows], total=len(rows))


@router.post("/v1/onboarding/stop", response_model=OnboardingPage)
def stop_onboarding(
    body: OnboardingStop, ctx: Allowed("onboarding:admin"), request: Request
) -> OnboardingPage:
    """Stop a user's onboardings (or the one of `sequence`): no further email."""
    rows = onboarding.stop(
        ctx.session,
        ctx.principal,
        request.app.state.workflows,
        email=body.email,
        sequence=body.sequence,
    )
    return OnboardingPage(items=[_out(ctx.session, r) for r in rows], total=len(rows))


@router.get("/v1/onboarding/mail-settings", response_model=MailSettingsOut)
def read_mail_settings(ctx: Allowed("onboarding:admin"), request: Request) -> MailSettingsOut:
    """The organisation's relay (its host only), sender, country and time zone."""
    settings = request.app.state.settings
    row = mail_settings.get(ctx.session)
    return MailSettingsOut(**mail_settings.shown(row, settings.smtp_url, settings.mail_from))


@router.put("/v1/onboarding/mail-settings", response_model=MailSettingsOut)
def write_mail_settings(
    body: MailSettingsIn, ctx: Allowed("onboarding:admin"), request: Request
) -> MailSettingsOut:
    """Set the relay, sender, country or time zone (the relay's URL is never shown)."""
    settings = request.app.state.settings
    row = mail_settings.update(ctx.session, ctx.principal, body.model_dump(exclude_unset=True))
    return MailSettingsOut(**mail_settings.shown(row, settings.smtp_url, settings.mail_from))
