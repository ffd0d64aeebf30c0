"""/v1/compliance: policies (upload, list), assignments, items (status, complete, evidence,
withdraw, redate) and reports, as ``qylon compliance`` offers them. Admins upload,
assign, withdraw, redate and report (``compliance:admin``); everyone reads their own
items and evidence (``compliance:read``) and completes them (``compliance:own``).
Changes go through ``services/compliance.py`` and ``compliance_revise.py``: events, the
projection and audit."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from qylon_cli.compliance_policy import FRAMEWORKS

from ..deps import Allowed
from ..errors import ERROR_RESPONSES, ApiError
from ..models import User
from ..services import audit, compliance, compliance_report, compliance_revise

router = APIRouter(tags=["compliance"], responses=ERROR_RESPONSES)


class PolicyUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=256 * 1024, description="The policy's YAML.")


class PolicyInfo(BaseModel):
    id: str
    name: str
    version: int
    title: str
    frameworks: list[str]
    sha256: str
    workflow: str | None
    created: bool | None = None


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(min_length=1, max_length=64)
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    users: list[str] | None = Field(None, max_length=1000, description="Emails or ids.")
    team: str | None = Field(None, max_length=200)
    group: str | None = Field(None, max_length=200)
    all: bool = False
    start_date: date | None = Field(None, description="Overrides each person's start date.")
    clients: list[str] = Field(default_factory=list, max_length=50)


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content_base64: str | None = Field(None, description="The evidence file, base64.")
    content_type: str | None = Field(None, max_length=100)
    filename: str | None = Field(None, max_length=255)
    acknowledge: bool = Field(False, description="Accept the item's document (acknowledge items).")


def _policy(row, created: bool | None = None) -> PolicyInfo:
    return PolicyInfo(
        id=row.id,
        name=row.name,
        version=row.version,
        title=row.title,
        frameworks=list(row.frameworks or []),
        sha256=row.sha256,
        workflow=row.workflow,
        created=created,
    )


@router.post("/v1/compliance/policies", response_model=PolicyInfo)
def upload_policy(body: PolicyUpload, response: Response, ctx: Allowed("compliance:admin")):
    """Upload a version of a policy (the same text again changes nothing: 200)."""
    from ..workflows import compliance_escalation

    row, created = compliance.upload(
        ctx.session, ctx.principal, text=body.text, install=compliance_escalation.install
    )
    response.status_code = 201 if created else 200
    return _policy(row, created)


@router.get("/v1/compliance/policies", response_model=list[PolicyInfo])
def list_policies(ctx: Allowed("compliance:admin")):
    """Every version of every policy, by name then version."""
    return [_policy(r) for r in compliance.policies(ctx.session)]


@router.post("/v1/compliance/assignments")
def assign(body: Assignment, request: Request, ctx: Allowed("compliance:admin")) -> dict:
    """Assign a policy's items to people (those they already have are left as they are)."""
    people = compliance.select_users(
        ctx.session, users=body.users, team=body.team, group=body.group, everyone=body.all
    )
    from ..workflows import service as workflows

    def escalate(session, principal, row, user) -> str:
        run, _ = workflows.start(
            session,
            principal,
            request.app.state.workflows,
            name=row.workflow,
            inputs={"user_id": user.id, "policy": row.name},
            idempotency_key=f"compliance:{user.id}:{row.name}",
        )
        return run.id

    return compliance.assign(
        ctx.session,
        ctx.principal,
        escalate=escalate,
        policy=body.policy,
        version=body.version,
        people=people,
        start=body.start_date,
        clients=body.clients,
    )


@router.get("/v1/compliance/items")
def items(
    ctx: Allowed("compliance:read"),
    user: Annotated[str | None, Query(max_length=320, description="An email or id.")] = None,
    team: Annotated[str | None, Query(max_length=200)] = None,
    overdue: bool = False,
    framework: Annotated[str | None, Query(max_length=40)] = None,
) -> dict:
    """Items with their status. Without ``compliance:admin`` only your own."""
    admin = ctx.principal.can("compliance:admin")
    user_id = None
    if user:
        user_id = compliance.select_users(ctx.session, users=[user])[0].id
    if not admin:
        if (user_id and user_id != ctx.principal.user.id) or team:
            raise ApiError(403, "You may see only your own items.", code="forbidden")
        user_id = ctx.principal.user.id
    found = compliance.status(
        ctx.session, user_id=user_id, team=team, overdue=overdue, framework=framework
    )
    return {"items": found, "total": len(found)}


@router.post("/v1/compliance/items/{item_id}/complete")
def complete(item_id: str, body: Completion, ctx: Allowed("compliance:own")) -> dict:
    """Complete an item with its evidence: a file (base64) or, for an acknowledge item,
    ``acknowledge: true``. Your own item, or anyone's with ``compliance:admin``."""
    row = compliance.item_for(ctx.session, ctx.principal, item_id)
    content = None
    if body.content_base64 is not None:
        try:
            content = base64.b64decode(body.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "content_base64 is not base64.", code="invalid_input") from None
    elif not body.acknowledge:
        raise ApiError(422, "Send the evidence file or acknowledge: true.", code="invalid_input")
    compliance.complete(
        ctx.session,
        ctx.principal,
        row,
        content=content,
        content_type=body.content_type,
        filename=body.filename,
    )
    return compliance.describe(
        row, ctx.principal.user if row.user_id == ctx.principal.user.id else None
    )


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="Why it is no longer needed.")


class Redate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    due_date: date = Field(description="The new due date (YYYY-MM-DD).")
    reason: str | None = Field(None, max_length=500)


def _follow(request: Request):
    """How a change reaches the person's escalation run (``compliance_escalation.follow``)."""
    from ..workflows import compliance_escalation

    client = request.app.state.workflows

    def follow(session, principal, row, reason: str) -> str | None:
        return compliance_escalation.follow(session, principal, client, row, reason)

    return follow


@router.get(
    "/v1/compliance/items/{item_id}/evidence",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def evidence(item_id: str, ctx: Allowed("compliance:read")) -> Response:
    """The evidence file that completed an item, as it was uploaded (its content type;
    its name in Content-Disposition; its stored SHA-256 in ``X-Evidence-SHA256``). Your
    own item, or anyone's with ``compliance:admin``; 404 when it has no file."""
    from urllib.parse import quote

    row = compliance.item_for(ctx.session, ctx.principal, item_id)
    found = compliance_revise.evidence_of(ctx.session, row)
    name = found.filename or f"{row.item_key}-evidence"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "evidence"
    audit.record(
        ctx.session,
        ctx.principal,
        "compliance.evidence.download",
        target_type="compliance_item",
        target_id=row.id,
        detail={"sha256": found.sha256},
    )
    headers = {
        "Content-Disposition": f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(name)}",
        "X-Evidence-SHA256": found.sha256,
        "X-Content-Type-Options": "nosniff",
    }
    return Response(found.content, media_type=found.content_type, headers=headers)


@router.post("/v1/compliance/items/{item_id}/withdraw")
def withdraw(
    item_id: str, body: Withdrawal, request: Request, ctx: Allowed("compliance:admin")
) -> dict:
    """Withdraw an assigned item: it needs nothing more, is never overdue, counts as
    neither open nor missing, and its escalation stops (409 when completed or withdrawn)."""
    row = compliance.item_for(ctx.session, ctx.principal, item_id)
    compliance_revise.withdraw(
        ctx.session, ctx.principal, row, reason=body.reason, follow=_follow(request)
    )
    return compliance.describe(row, ctx.session.get(User, row.user_id))


@router.post("/v1/compliance/items/{item_id}/redate")
def redate(item_id: str, body: Redate, request: Request, ctx: Allowed("compliance:admin")) -> dict:
    """Give an open item a new due date: its status and its escalation follow the new
    date (the ladder starts again from it). The same date again changes nothing."""
    row = compliance.item_for(ctx.session, ctx.principal, item_id)
    compliance_revise.redate(
        ctx.session,
        ctx.principal,
        row,
        due=body.due_date,
        reason=body.reason,
        follow=_follow(request),
    )
    return compliance.describe(row, ctx.session.get(User, row.user_id))


@router.get("/v1/compliance/report")
def report(
    ctx: Allowed("compliance:admin"),
    framework: Annotated[Literal[FRAMEWORKS], Query()],  # type: ignore[valid-type]
    format: Literal["json", "csv", "md", "pdf"] = "json",
    on: date | None = None,
):
    """A framework's report: every item that counts for it, by person; JSON, CSV,
    Markdown or PDF."""
    built = compliance_report.build(ctx.session, framework=framework, on=on)
    audit.record(
        ctx.session,
        ctx.principal,
        "compliance.report",
        detail={"framework": framework, "format": format, "items": len(built["rows"])},
    )
    if format == "json":
        return built
    media, render = compliance_report.FORMATS[format]
    body = render(built)
    return Response(body, media_type=media)


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(min_length=1, max_length=320, description="An email or id.")


@router.post("/v1/compliance/links")
def checklist_link(body: LinkRequest, request: Request, ctx: Allowed("compliance:admin")) -> dict:
    """A signed, expiring link to a person's checklist page (to send them)."""
    from .. import links

    user = compliance.select_users(ctx.session, users=[body.user])[0]
    link = links.Link("checklist", ctx.principal.org_id, user.id)
    audit.record(
        ctx.session, ctx.principal, "compliance.link", target_type="user", target_id=user.id
    )
    return {
        "user_id": user.id,
        "email": user.email,
        "checklist": links.url(request.app.state.settings, link, "/p/checklist"),
        "expires_in_s": links.DEFAULT_TTL_S,
    }
