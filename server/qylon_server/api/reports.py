"""/v1/reports: the team's figures as JSON (docs/reports.md), what `qylon report ...
--team` and the dashboard page draw: meetings (anyone who may read meetings), onboarding
(admins: onboarding:admin) and experiments (admins: experiments:read); and a signed link
to the read-only dashboard page."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from qylon_cli.schemas_reports import ExperimentsReport, MeetingReport, OnboardingReport

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..services import audit, reports

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)

Since = Annotated[date | None, Query(description="Only from this date on (UTC).")]


@router.get("/v1/reports/meetings", response_model=MeetingReport)
def meetings_report(
    ctx: Allowed("meetings:read"),
    client: Annotated[
        str | None, Query(max_length=200, description="A client's id or name.")
    ] = None,
    since: Since = None,
) -> dict:
    """Meetings, hours, talk-time share per speaker, action items opened, closed and
    overdue, and the median days to close one."""
    return reports.meetings(ctx.session, client=client, since=since)


@router.get("/v1/reports/onboarding", response_model=OnboardingReport)
def onboarding_report(
    ctx: Allowed("onboarding:admin"), since: Since = None, by: Literal["month", "week"] = "month"
) -> dict:
    """The onboarding funnel per cohort and the compliance items overdue."""
    return reports.onboarding(ctx.session, since=since, by=by)


@router.get("/v1/reports/experiments", response_model=ExperimentsReport)
def experiments_report(
    ctx: Allowed("experiments:read"),
    name: Annotated[list[str] | None, Query(max_length=20, description="Only these.")] = None,
) -> dict:
    """Every experiment (or those named) with its variants' results."""
    return reports.experiments_report(ctx.session, names=name)


@router.post("/v1/reports/dashboard-link")
def dashboard_link(request: Request, ctx: Allowed("meetings:read")) -> dict:
    """A signed link to the dashboard page for the caller, valid for a day, showing the
    sections the caller's key may read."""
    from .. import links

    sections = [name for name, needs in reports.SECTIONS.items() if ctx.principal.can(needs)]
    link = links.Link("dashboard", ctx.principal.org_id, ctx.principal.user.id, ",".join(sections))
    audit.record(
        ctx.session, ctx.principal, "reports.dashboard_link", detail={"sections": sections}
    )
    return {
        "url": links.url(request.app.state.settings, link, "/p/dashboard"),
        "sections": sections,
        "expires_in_s": reports.DASHBOARD_TTL_S,
    }
