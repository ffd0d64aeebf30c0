"""The team's figures (``/v1/reports/*``, the dashboard page): meetings, onboarding and
experiments, read from the organisation's rows; nothing here writes.

The meeting figures are computed by ``qylon_cli.reports.meetings``, the function the CLI
uses on a consultant's own meetings, from the same kind of records, so the two agree.
The experiments' figures are ``services/experiments.results``, per experiment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from qylon_cli.reports.meetings import meeting_figures

from ..models import ActionItem, Experiment, Meeting
from ..models_onboarding import ComplianceItem, Onboarding
from . import compliance, experiments
from .meetings import of_client

DASHBOARD_TTL_S = 24 * 3600  # a dashboard link: a day (a link to figures, not a credential)
# What each section of the dashboard needs; a link carries those its maker's key allowed,
# and the page shows those the person's role still allows.
SECTIONS = {
    "meetings": "meetings:read",
    "onboarding": "onboarding:admin",
    "experiments": "experiments:read",
}


def _today() -> date:
    return datetime.now(UTC).date()


def meeting_records(session: Session, *, client: str | None, since: date | None) -> list[dict]:
    """Each meeting of the organisation (the session's) with its speakers and items, in
    the records ``meeting_figures`` takes. The transcripts are not read."""
    stmt = select(
        Meeting.id, Meeting.title, Meeting.client_name, Meeting.created_at, Meeting.duration_s,
        Meeting.speakers,
    )  # fmt: skip
    stmt = of_client(stmt, client)
    if since is not None:  # a day's margin; the figures' own filter (UTC date) decides
        start = datetime(since.year, since.month, since.day, tzinfo=UTC)
        start = (
            start - timedelta(days=1) if since > date.min else start
        )  # 0001-01-01: no day before
        stmt = stmt.where(Meeting.created_at >= start)
    meetings = {
        row.id: {
            "id": row.id,
            "title": row.title,
            "client": row.client_name,
            "created_at": row.created_at,
            "duration_s": row.duration_s or 0.0,
            "speakers": list(row.speakers or []),
            "action_items": [],
        }
        for row in session.execute(stmt.order_by(Meeting.created_at, Meeting.id))
    }
    items = select(
        ActionItem.meeting_id, ActionItem.status, ActionItem.due, ActionItem.updated_at
    ).where(ActionItem.meeting_id.in_(stmt.with_only_columns(Meeting.id).scalar_subquery()))
    for row in session.execute(items.order_by(ActionItem.meeting_id, ActionItem.id)):
        if row.meeting_id in meetings:
            meetings[row.meeting_id]["action_items"].append(
                {"status": row.status, "due": row.due, "updated_at": row.updated_at}
            )
    return list(meetings.values())


def meetings(
    session: Session, *, client: str | None = None, since: date | None = None,
    today: date | None = None,
) -> dict:  # fmt: skip
    """``GET /v1/reports/meetings``. ``client`` is a client's id or name (as the meeting
    list takes it): the rows are narrowed here, so the figures' own filter is not used."""
    data = meeting_figures(
        meeting_records(session, client=client, since=since),
        since=since,
        today=today or _today(),
        source="server",
    )
    data["filters"]["client"] = client
    return data


# ---------------------------------------------------------------------------- onboarding


def cohort(started: datetime, by: str) -> str:
    """``2026-11`` (month) or ``2026-W47`` (ISO week) of a start."""
    if by == "week":
        year, week, _ = started.isocalendar()
        return f"{year}-W{week:02d}"
    return started.strftime("%Y-%m")


def _compliance_done(session: Session) -> set[str]:
    """The people with compliance items, all completed (withdrawn ones need nothing)."""
    open_, any_ = set(), set()
    for user_id, status in session.execute(select(ComplianceItem.user_id, ComplianceItem.status)):
        if status == "withdrawn":
            continue
        any_.add(user_id)
        if status != "completed":
            open_.add(user_id)
    return any_ - open_


def _overdue(session: Session, on: date) -> dict:
    rows = compliance.status(session, overdue=True, on=on)
    by_item: dict[tuple, dict] = {}
    for r in rows:
        entry = by_item.setdefault(
            (r["policy"], r["item"]),
            {"policy": r["policy"], "item": r["item"], "title": r["title"], "overdue": 0},
        )
        entry["overdue"] += 1
    listed = [
        {k: r[k] for k in ("email", "policy", "item", "title", "due_date", "overdue_days")}
        for r in sorted(rows, key=lambda r: (-r["overdue_days"], r["email"] or "", r["item"]))
    ]
    return {
        "items": len(rows),
        "people": len({r["user_id"] for r in rows}),
        "by_item": sorted(by_item.values(), key=lambda i: (-i["overdue"], i["policy"], i["item"])),
        "list": listed,
    }


def onboarding(
    session: Session, *, since: date | None = None, by: str = "month", today: date | None = None
) -> dict:
    """``GET /v1/reports/onboarding``: per cohort (the month or ISO week an onboarding
    started), how many started, were sent their first email, have completed every
    compliance item assigned to them, completed the sequence, were stopped; and the
    compliance items overdue today (``qylon compliance status --overdue``'s)."""
    on = today or _today()
    done = _compliance_done(session)
    cohorts: dict[str, dict] = {}
    stmt = select(
        Onboarding.user_id, Onboarding.status, Onboarding.emails_sent, Onboarding.started_at
    )
    for row in session.execute(stmt.order_by(Onboarding.started_at)):
        started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=UTC)
        if since is not None and started.date() < since:
            continue
        name = cohort(started, by)
        c = cohorts.setdefault(
            name,
            {"cohort": name, "started": 0, "emailed": 0, "compliance_done": 0, "completed": 0,
             "stopped": 0, "running": 0},
        )  # fmt: skip
        c["started"] += 1
        c["emailed"] += row.emails_sent > 0
        c["compliance_done"] += row.user_id in done
        c["completed"] += row.status == "completed"
        c["stopped"] += row.status == "stopped"
        c["running"] += row.status == "running"
    return {
        "report": "onboarding",
        "source": "server",
        "filters": {"since": since.isoformat() if since else None, "by": by},
        "today": on.isoformat(),
        "cohorts": sorted(cohorts.values(), key=lambda c: c["cohort"]),
        "overdue": _overdue(session, on),
    }


# --------------------------------------------------------------------------- experiments


def experiments_report(session: Session, *, names: list[str] | None = None) -> dict:
    """``GET /v1/reports/experiments``: each experiment (by name; the ones named, else
    all) with its results."""
    if names:
        rows = [experiments.get(session, n) for n in dict.fromkeys(names)]
    else:
        rows = list(session.scalars(select(Experiment).order_by(Experiment.name)))
    out = []
    for row in rows:
        results = experiments.results(session, row)
        out.append(
            {
                "name": row.name,
                "status": row.status,
                "on": f"{row.target_kind}:{row.target}",
                "goal": row.goal,
                "control": results["control"],
                "variants": results["variants"],
                "warnings": results["warnings"],
            }
        )
    return {
        "report": "experiments",
        "source": "server",
        "filters": {"name": ", ".join(names) if names else None},
        "today": _today().isoformat(),
        "experiments": out,
    }
