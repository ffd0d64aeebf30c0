"""The team's dashboard (``/p/dashboard``): the figures of ``/v1/reports/*`` as one
read-only page, server-rendered, no JavaScript; the charts are bars drawn with CSS, each
labelled with its value, from the same layout the CLI's reports use
(``qylon_cli.reports.layout``).

Reached through a signed link (`qylon report dashboard`, ``POST
/v1/reports/dashboard-link``) bound to the organisation and the person who asked, valid
for a day. The link names the sections its maker's key could read; the page shows those
the person's role still allows (a person since deactivated, or demoted, sees less or
nothing). ``?since=YYYY-MM-DD`` narrows the meetings and the cohorts."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from qylon_cli.reports import layout
from qylon_cli.reports.formats import cell

from .. import links
from ..models import Organisation, User
from ..permissions import BY_ROLE
from ..services import reports
from ..tenancy import org_session
from . import link_problem, render

router = APIRouter(include_in_schema=False)


def _chart(chart: layout.Chart) -> dict:
    top = max((v for _, values in chart.series for v in values), default=0) or 1
    return {
        "title": chart.title,
        "name": chart.name,
        "value_axis": chart.value_axis,
        "category_axis": chart.category_axis,
        "legend": [name for name, _ in chart.series] if len(chart.series) > 1 else [],
        "rows": [
            {
                "label": label,
                "bars": [
                    {
                        "series": name,
                        "value": values[i],
                        "text": texts[i],
                        "width": round(100 * values[i] / top, 2),
                        "index": n,
                    }
                    for n, ((name, values), texts) in enumerate(
                        zip(chart.series, chart.texts, strict=True)
                    )
                ],
            }
            for i, label in enumerate(chart.labels)
        ],
    }


def _table(table: layout.Table) -> dict:
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in table.rows)
        for i in range(len(table.columns))
    ]
    return {
        "name": table.name,
        "title": table.title,
        "columns": list(zip(table.columns, numeric, strict=True)),
        "rows": [
            [cell(c, v) for c, v in zip(table.columns, row, strict=True)] for row in table.rows
        ],
    }


def _section(name: str, data: dict) -> dict:
    shown = layout.layout(data)
    return {
        "name": name,
        "title": shown.title,
        "lines": shown.lines,
        "charts": [_chart(c) for c in shown.charts],
        "tables": [_table(t) for t in shown.tables],
    }


def _since(request: Request) -> date | None:
    try:
        return date.fromisoformat(request.query_params.get("since", ""))
    except ValueError:
        return None


@router.get("/p/dashboard", response_class=HTMLResponse)
def dashboard(request: Request):
    settings = request.app.state.settings
    try:
        link = links.read(
            settings, request.query_params.get("t", ""), purpose="dashboard",
            max_age_s=reports.DASHBOARD_TTL_S,
        )  # fmt: skip
    except links.LinkInvalid as exc:
        return link_problem(exc)
    since = _since(request)
    with org_session(request.app.state.db, link.org_id) as session:
        user = session.get(User, link.user_id)
        if user is None or user.status == "deactivated":
            return link_problem(links.LinkInvalid("no such person"))
        allowed = BY_ROLE.get(user.role, set())
        wanted = [s for s in (link.subject or "").split(",") if s in reports.SECTIONS]
        names = [s for s in wanted if reports.SECTIONS[s] in allowed]
        build = {
            "meetings": lambda: reports.meetings(session, since=since),
            "onboarding": lambda: reports.onboarding(session, since=since),
            "experiments": lambda: reports.experiments_report(session),
        }
        sections = [_section(n, build[n]()) for n in names]
        org = session.get(Organisation, link.org_id)
        return render(
            "dashboard.html",
            title="Team dashboard",
            org_name=org.name if org else "Qylon",
            person=user.display_name or user.email,
            since=since.isoformat() if since else None,
            sections=sections,
        )
