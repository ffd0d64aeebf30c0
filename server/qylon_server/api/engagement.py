"""/v1/engagement: re-engagement rules, who is at risk, and evaluating the rules (which
starts nudge workflows). Admins only (``engagement:read``, ``engagement:admin``).
docs/onboarding-risk.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from qylon_cli.engagement_rules import load
from qylon_cli.schemas_onboarding import (
    AtRiskPage,
    EngagementEvaluate,
    EngagementEvaluation,
    EngagementRuleInfo,
    EngagementRulePage,
    EngagementRuleUpload,
)

from ..deps import Allowed
from ..errors import ERROR_RESPONSES, ApiError
from ..services import engagement

router = APIRouter(tags=["engagement"], responses=ERROR_RESPONSES)


def _when(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if not 1970 <= at.year <= 9000:  # the windows before and after it must stay dates
        raise ApiError(422, "at: give a time between 1970 and 9000.", code="invalid_input")
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def info(row, created: bool | None = None) -> EngagementRuleInfo:
    rule = load(row.text, row.name)
    return EngagementRuleInfo(
        id=row.id,
        name=row.name,
        version=row.version,
        sha256=row.sha256,
        enabled=rule.enabled,
        risk=rule.risk,
        description=rule.description,
        workflow=rule.nudge.workflow if rule.nudge else None,
        created_at=row.created_at,
        created=created,
    )


@router.post("/v1/engagement/rules", status_code=201, response_model=EngagementRuleInfo)
def upload_rule(
    body: EngagementRuleUpload, ctx: Allowed("engagement:admin"), response: Response
) -> EngagementRuleInfo:
    """Upload a rule (checked as `qylon onboarding rules validate` does); the same text
    again answers 200 and changes nothing."""
    row, created = engagement.upload(ctx.session, ctx.principal, text=body.text)
    if not created:
        response.status_code = 200
    return info(row, created)


@router.get("/v1/engagement/rules", response_model=EngagementRulePage)
def list_rules(ctx: Allowed("engagement:read")) -> EngagementRulePage:
    """The newest version of each rule (disabled ones too), by name."""
    from sqlalchemy import func, select

    from ..models import EngagementRule

    newest = (
        select(EngagementRule.name, func.max(EngagementRule.version).label("v"))
        .group_by(EngagementRule.name)
        .subquery()
    )
    rows = ctx.session.scalars(
        select(EngagementRule)
        .join(
            newest, (newest.c.name == EngagementRule.name) & (newest.c.v == EngagementRule.version)
        )
        .order_by(EngagementRule.name)
    ).all()
    return EngagementRulePage(
        items=[info(r) for r in rows], total=len(rows), limit=len(rows), offset=0
    )


@router.get("/v1/engagement/at-risk", response_model=AtRiskPage)
def at_risk(
    ctx: Allowed("engagement:read"),
    at: Annotated[datetime | None, Query(description="As of this time (default: now).")] = None,
) -> AtRiskPage:
    """Everyone a rule matches, the riskiest first, with the rules and facts that match."""
    when = _when(at)
    items = engagement.at_risk(ctx.session, when)
    return AtRiskPage(items=items, total=len(items), limit=len(items), offset=0, at=when)


@router.post("/v1/engagement/evaluate", response_model=EngagementEvaluation)
def evaluate(
    body: EngagementEvaluate, ctx: Allowed("engagement:admin"), request: Request
) -> EngagementEvaluation:
    """Match the rules now (or ``at``) and start each match's nudge workflow, within the
    weekly caps; says what started and what was held back, and why."""
    from ..workflows import service as workflows

    def start(name: str, inputs: dict, key: str):
        return workflows.start(
            ctx.session, ctx.principal, request.app.state.workflows,
            name=name, inputs=inputs, idempotency_key=key,
        )  # fmt: skip

    done = engagement.evaluate(
        ctx.session, ctx.principal, start, at=_when(body.at), cap_per_week=body.cap_per_week
    )
    return EngagementEvaluation(**done)
