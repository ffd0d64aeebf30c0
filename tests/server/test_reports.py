"""/v1/reports on SQLite and PostgreSQL: the team's meeting figures for the fixture set
are the hand-computed ones (tests/report_fixture.py), and the same as a consultant's
report on their own copy of those meetings; the onboarding funnel per cohort and the
overdue compliance items of a small hand-made organisation; the experiments' figures are
their results'; and the CLI's `--team` reports draw what the server answers."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

import pytest
from qylon_server.db import Database
from qylon_server.models_onboarding import ComplianceItem, Onboarding
from qylon_server.tenancy import org_session
from sqlalchemy import select

from tests.report_fixture import ACME, ALL, MEETINGS, SINCE, figures

from ..conftest import credentials, run_qylon, run_qylon_here

POLICY = """
name: report-policy
version: 1
title: Report policy
frameworks: [GDPR]
items:
  - {id: read-it, title: Read it, kind: acknowledge, due: 5d, document: The text.}
  - {id: sign-nda, title: Sign the NDA, kind: acknowledge, due: 10d, document: The NDA.}
"""


@pytest.fixture
def meetings(api, org):
    for m in MEETINGS:
        r = api.put(f"/v1/meetings/{m.id}", org.token, json=m.model_dump(mode="json"))
        assert r.status_code == 201, r.text
    return org


def test_meeting_figures_are_the_hand_computed_ones(api, meetings, other_org):
    t = meetings.token
    data = api.get("/v1/reports/meetings", t).json()
    assert data["source"] == "server" and figures(data) == ALL
    assert figures(api.get("/v1/reports/meetings?client=ACME", t).json()) == ACME
    assert figures(api.get("/v1/reports/meetings?since=2026-11-10", t).json()) == SINCE
    # tenant-scoped: another organisation sees none of them
    assert api.get("/v1/reports/meetings", other_org.token).json()["meetings"] == 0
    bad = api.get("/v1/reports/meetings?since=yesterday", t)
    assert bad.status_code == 422


def test_a_status_changed_on_the_server_counts(api, meetings):
    """Closing an item through the API closes it in the figures, timed by the server."""
    m = MEETINGS[2]
    r = api.patch(f"/v1/action-items/{m.id}/c2", meetings.token, json={"status": "done"})
    assert r.status_code == 200, r.text
    items = api.get("/v1/reports/meetings", meetings.token).json()["action_items"]
    assert (items["closed"], items["open"]) == (5, 2)


def test_team_and_local_reports_agree(api, meetings, server):
    """The CLI's --team report is the server's JSON; a consultant's own copy of the same
    meetings gives the same figures."""
    from qylon_agent.store.database import Store

    env = credentials(server.url, meetings.token)
    team = run_qylon("report", "meetings", "--team", "--since", "2026-10-01", "--json", env=env)
    assert team.code == 0, team.stderr
    assert figures(team.json["data"]) == ALL and team.json["data"]["source"] == "server"
    store = Store()
    try:
        for m in MEETINGS:
            store.save_meeting(m)
    finally:
        store.close()
    local = run_qylon_here("report", "meetings", "--since", "2026-10-01", "--json")
    assert figures(local.json["data"]) == figures(team.json["data"])


def _people(api, org) -> dict:
    made = {}
    for name in ("ana", "bo", "cy", "di"):
        r = api.post("/v1/users", org.token, json={"email": f"{name}@firm.example"})
        assert r.status_code == 201, r.text
        made[name] = r.json()["id"]
    assert api.post("/v1/compliance/policies", org.token, json={"text": POLICY}).status_code in (200, 201)  # fmt: skip
    r = api.post(
        "/v1/compliance/assignments",
        org.token,
        json={"policy": "report-policy", "users": [f"{n}@firm.example" for n in made]},
    )
    assert r.status_code == 200, r.text
    return made


# (person, started, status, emails sent); each person's items: (status, due date)
ONBOARDINGS = [
    ("ana", "2026-10-05", "completed", 3),
    ("bo", "2026-10-20", "running", 1),
    ("cy", "2026-11-03", "stopped", 0),
    ("di", "2026-11-10", "running", 2),
]
ITEMS = {
    "ana": {"read-it": ("completed", "2026-10-10"), "sign-nda": ("completed", "2026-10-15")},
    "bo": {"read-it": ("completed", "2026-10-25"), "sign-nda": ("assigned", "2026-01-10")},
    "cy": {"read-it": ("assigned", "2026-02-01"), "sign-nda": ("assigned", "2099-01-01")},
    "di": {"read-it": ("withdrawn", "2026-01-01"), "sign-nda": ("completed", "2026-11-20")},
}


@pytest.fixture
def onboarded(api, org, backend):
    """Four people's onboardings and compliance items, set to known states in the
    database (the report only reads them; how they get there is tested elsewhere)."""
    people = _people(api, org)
    db = Database(backend.admin_url)
    try:
        with org_session(db, org.id) as s:
            for name, started, status, sent in ONBOARDINGS:
                s.add(
                    Onboarding(
                        org_id=org.id, user_id=people[name], email=f"{name}@firm.example",
                        sequence="new-consultant", version=1, run_id=f"run-{secrets.token_hex(4)}",
                        status=status, emails_sent=sent,
                        started_at=datetime.fromisoformat(started).replace(hour=9, tzinfo=UTC),
                    )
                )  # fmt: skip
            for item in s.scalars(select(ComplianceItem)):
                name = next(n for n, i in people.items() if i == item.user_id)
                item.status, item.due_date = ITEMS[name][item.item_key]
    finally:
        db.dispose()
    return people


def test_onboarding_funnel_and_overdue_compliance(api, org, onboarded):
    data = api.get("/v1/reports/onboarding", org.token).json()
    assert data["cohorts"] == [
        {"cohort": "2026-10", "started": 2, "emailed": 2, "compliance_done": 1, "completed": 1,
         "stopped": 0, "running": 1},
        {"cohort": "2026-11", "started": 2, "emailed": 1, "compliance_done": 1, "completed": 0,
         "stopped": 1, "running": 1},
    ]  # fmt: skip
    today = datetime.now(UTC).date()
    overdue = data["overdue"]
    assert (overdue["items"], overdue["people"]) == (2, 2)
    assert overdue["by_item"] == [
        {"policy": "report-policy", "item": "read-it", "title": "Read it", "overdue": 1},
        {"policy": "report-policy", "item": "sign-nda", "title": "Sign the NDA", "overdue": 1},
    ]
    assert [(o["email"], o["item"], o["overdue_days"]) for o in overdue["list"]] == [
        ("bo@firm.example", "sign-nda", (today - date(2026, 1, 10)).days),
        ("cy@firm.example", "read-it", (today - date(2026, 2, 1)).days),
    ]
    weeks = api.get("/v1/reports/onboarding?by=week&since=2026-10-15", org.token).json()
    assert [(c["cohort"], c["started"]) for c in weeks["cohorts"]] == [
        ("2026-W43", 1), ("2026-W45", 1), ("2026-W46", 1),
    ]  # fmt: skip


def test_onboarding_report_in_every_format(api, org, onboarded, server, tmp_path):
    env = credentials(server.url, org.token)
    md = run_qylon_here("report", "onboarding", "--format", "md", env=env)
    assert md.code == 0, md.stderr
    assert "| 2026-10 | 2 | 2 | 1 | 1 | 0 |" in md.stdout
    assert "| bo@firm.example | report-policy | sign-nda | 2026-01-10 |" in md.stdout
    out = tmp_path / "onboarding.png"
    png = run_qylon_here("report", "onboarding", "-f", "png", "-o", str(out), env=env)
    assert png.code == 0, png.stderr
    from PIL import Image

    image = Image.open(out)
    import json

    plotted = json.loads(image.info["Description"])
    assert plotted["funnel"]["labels"] == ["2026-10", "2026-11"]
    assert plotted["funnel"]["series"]["Started"] == [2, 2]
    assert plotted["funnel"]["series"]["Completed"] == [1, 0]
    assert plotted["overdue"]["series"]["People"] == [1, 1]


def test_experiment_figures_are_their_results(api, org, server):
    t = org.token
    variants = [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]
    body = {"name": "rep-exp", "target_kind": "template", "target": "welcome", "variants": variants}
    assert api.post("/v1/experiments", t, json=body).status_code == 201
    assert api.post("/v1/experiments/rep-exp/start", t).status_code == 200
    for n in range(6):
        user = api.post("/v1/users", t, json={"email": f"x{n}@firm.example"}).json()
        api.post("/v1/experiments/rep-exp/assignments", t, json={"user_id": user["id"]})
        if n % 2 == 0:
            api.post("/v1/experiments/rep-exp/conversions", t, json={"user_id": user["id"]})
    data = api.get("/v1/reports/experiments", t).json()
    results = api.get("/v1/experiments/rep-exp/results", t).json()
    (exp,) = data["experiments"]
    assert exp["variants"] == results["variants"] and exp["control"] == "a"
    assert sum(v["exposures"] for v in exp["variants"]) == 6
    assert sum(v["conversions"] for v in exp["variants"]) == 3
    assert api.get("/v1/reports/experiments?name=nope", t).status_code == 404
    table = run_qylon_here("report", "experiments", env=credentials(server.url, t))
    assert table.code == 0, table.stderr
    for v in exp["variants"]:
        assert f"{v['exposures']}" in table.stdout
