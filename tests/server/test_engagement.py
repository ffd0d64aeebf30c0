"""Re-engagement (issue 20) on SQLite and PostgreSQL: rules uploaded and checked, activity
(sign-ins, meetings synced, action items closed) read from the keys, the event store
and the audit trail, who is at risk and why at a given time, nudges started as workflow
runs within the weekly caps, their events, and the nudges rebuilt by replay."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qylon_server.db import Database
from qylon_server.events import projections
from qylon_server.models import EngagementNudge, User
from qylon_server.services import engagement_activity
from qylon_server.tenancy import org_session
from sqlalchemy import select

from .test_compliance import _setup as compliance_setup
from .test_permissions import meeting_body

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "config/engagement").glob("*.yaml"))
NUDGE = """
name: engagement-nudge
version: 1
input:
  email: {type: string, required: true}
  rule: {type: string, required: true}
  reasons: {type: string, default: ""}
  tip: {type: string, default: ""}
steps:
  - name: tell
    action: notify
    with: {to: "{{ input.email }}", subject: "{{ input.rule }}", text: "{{ input.reasons }}"}
"""


def setup_org(api, token) -> dict:
    for path in RULES:
        made = api.post("/v1/engagement/rules", token, json={"text": path.read_text()})
        assert made.status_code == 201, made.text
    assert api.post("/v1/workflows", token, json={"text": NUDGE}).status_code == 201
    quiet = api.post("/v1/users", token, json={"email": f"quiet-{uuid.uuid4().hex[:6]}@x.example"})
    people = {"quiet": quiet.json()["id"]}
    for name in ("busy", "closer"):  # each syncs a meeting with their own key
        key = api.make_user(token, "member")
        me = api.get("/v1/me", key).json()["user"]
        people[name], people[f"{name}_key"] = me["id"], key
        mid = str(uuid.uuid4())
        assert api.put(f"/v1/meetings/{mid}", key, json=meeting_body(mid)).status_code == 201
        people[f"{name}_meeting"] = mid
    closed = api.patch(
        f"/v1/action-items/{people['closer_meeting']}/a1",
        people["closer_key"],
        json={"status": "done"},
    )
    assert closed.status_code == 200, closed.text
    return people


def at_risk(api, token, at: datetime) -> dict[str, dict]:
    r = api.get("/v1/engagement/at-risk", token, params={"at": at.isoformat()})
    assert r.status_code == 200, r.text
    return {p["user_id"]: p for p in r.json()["items"]}


def evaluate(api, token, at: datetime, cap: int) -> dict:
    r = api.post("/v1/engagement/evaluate", token, json={"at": at.isoformat(), "cap_per_week": cap})
    assert r.status_code == 200, r.text
    return r.json()


def test_rules_upload_and_refuse_what_is_wrong(api, org):
    t = org.token
    text = RULES[0].read_text()
    assert api.post("/v1/engagement/rules", t, json={"text": text}).status_code == 201
    again = api.post("/v1/engagement/rules", t, json={"text": text})
    assert again.status_code == 200 and again.json()["created"] is False
    changed = text.replace("version: 1\n", "version: 1\nenabled: false\n")
    assert changed != text
    assert api.post("/v1/engagement/rules", t, json={"text": changed}).status_code == 409
    bad = api.post("/v1/engagement/rules", t, json={"text": "name: x\nversion: 1\nwhen: {}\n"})
    assert (
        bad.status_code == 422 and "give at least one condition" in bad.json()["error"]["message"]
    )
    listed = api.get("/v1/engagement/rules", t).json()["items"]
    assert [(r["name"], r["workflow"]) for r in listed] == [(RULES[0].stem, "engagement-nudge")]
    member = api.make_user(t, "member")
    assert api.get("/v1/engagement/at-risk", member).status_code == 403


def test_at_risk_reasons_nudges_caps_events_and_replay(api, org, backend):
    t = org.token
    people = setup_org(api, t)
    t0 = datetime.now(UTC)

    day1 = at_risk(api, t, t0 + timedelta(days=1))
    assert people["busy"] in day1 and people["quiet"] not in day1
    assert people["closer"] not in day1  # closed an item: the meetings rule does not match
    [reason] = day1[people["busy"]]["reasons"]
    assert reason["rule"] == "meetings-without-closed-items"
    assert reason["facts"][1:] == [
        "1 meeting(s) synced in the last 14d",
        "no action item closed in the last 14d",
    ]

    day8 = at_risk(api, t, t0 + timedelta(days=8))
    ours = [p for p in day8 if p in (people["busy"], people["quiet"], people["closer"])]
    assert ours == [people["busy"], people["quiet"], people["closer"]]  # by risk, then score
    assert day8[people["busy"]]["risk"] == 3
    assert day8[people["quiet"]]["score"] == 0 < day8[people["closer"]]["score"]
    assert day8[people["closer"]]["activity"] == {"sign_in": 1, "meeting": 1, "item_closed": 1}
    quiet_facts = day8[people["quiet"]]["reasons"][0]["facts"]
    assert quiet_facts[1].startswith("no activity for 8.0 days (no activity yet)")

    # cap 1 a week in all: busy's day-1 nudge holds back their day-8 ones
    first = evaluate(api, t, t0 + timedelta(days=1.5), cap=1)
    assert [(s["user_id"], s["rule"]) for s in first["started"]] == [
        (people["busy"], "meetings-without-closed-items")
    ]
    second = evaluate(api, t, t0 + timedelta(days=8), cap=1)
    started = {(s["user_id"], s["rule"]) for s in second["started"]}
    assert (people["quiet"], "quiet-during-onboarding") in started
    assert (people["closer"], "quiet-during-onboarding") in started
    assert not any(u == people["busy"] for u, _ in started)
    assert {h["why"] for h in second["held"] if h["user_id"] == people["busy"]} == {
        "weekly cap reached"
    }
    # a day later, a cap of 2: each rule's own cap (1 a week) still holds them back
    third = evaluate(api, t, t0 + timedelta(days=9), cap=2)
    assert (people["busy"], "quiet-during-onboarding") in {
        (s["user_id"], s["rule"]) for s in third["started"]
    }
    assert not any(s["user_id"] in (people["quiet"], people["closer"]) for s in third["started"])

    nudges = nudges_of(backend, org.id)
    for person in (people["busy"], people["quiet"], people["closer"]):
        times = sorted(n[1] for n in nudges if n[0] == person)
        for i, start in enumerate(times):  # never more than 2 in any 7 days
            assert sum(1 for x in times[i:] if x - start < timedelta(days=7)) <= 2
    run_id = first["started"][0]["run_id"]
    run = api.get(f"/v1/workflow-runs/{run_id}", t).json()
    assert run["name"] == "engagement-nudge" and run["input"]["email"].startswith("member-")
    assert "no action item closed" in run["input"]["reasons"]
    events = api.get(f"/v1/events?stream=engagement:{people['busy']}", t).json()["items"]
    assert [e["data"]["rule"] for e in events] == [  # day 1.5, then both rules on day 9
        "meetings-without-closed-items",
        "meetings-without-closed-items",
        "quiet-during-onboarding",
    ]
    assert events[0]["data"]["run_id"] == run_id

    db = Database(backend.url)
    try:
        with org_session(db, org.id) as s:
            s.execute(EngagementNudge.__table__.delete())
        assert projections.rebuild(db, "engagement_nudges", org.id)["rows"] == len(nudges)
    finally:
        db.dispose()
    assert nudges_of(backend, org.id) == nudges


def nudges_of(backend, org_id):
    db = Database(backend.url)
    try:
        with org_session(db, org_id) as s:
            return sorted(
                (n.user_id, n.at, n.rule, n.run_id, n.id)
                for n in s.scalars(select(EngagementNudge))
            )
    finally:
        db.dispose()


def test_a_sign_in_counts_once_per_person_per_day(api, org, backend):
    """Two keys and many requests, some at once: one ``user.signed_in`` a day, and the
    person's record is not marked as changed by it."""
    key = api.make_user(org.token, "member")
    me = api.get("/v1/me", key).json()["user"]
    second = api.post("/v1/api-keys", key, json={"name": "laptop", "scopes": ["read"]}).json()
    for token in (key, second["token"], key):
        assert api.get("/v1/me", token).status_code == 200

    def signed_in() -> list[dict]:
        found = api.get(
            "/v1/events", org.token, params={"stream": f"user:{me['id']}", "type": "user.signed_in"}
        )
        assert found.status_code == 200, found.text
        return found.json()["items"]

    [first] = signed_in()
    assert first["data"]["day"] == datetime.now(UTC).date().isoformat()
    assert first["actor"]["user_id"] == me["id"]
    before = updated_at(backend, org.id, me["id"])

    # the day turns (their record says they last came yesterday): eight requests at once
    db = Database(backend.admin_url)
    try:
        with db.session(org.id) as s:
            s.execute(
                User.__table__.update()
                .where(User.id == me["id"])
                .values(
                    signed_in_on=datetime.now(UTC).date() - timedelta(days=1),
                    updated_at=User.updated_at,
                )
            )
    finally:
        db.dispose()
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda t: api.get("/v1/me", t).status_code, [key, second["token"]] * 4)
        )
    assert codes == [200] * 8
    assert len(signed_in()) == 2
    assert updated_at(backend, org.id, me["id"]) == before

    db = Database(backend.url)
    try:
        with org_session(db, org.id) as s:
            person = engagement_activity.people(s, datetime.now(UTC))[me["id"]]
    finally:
        db.dispose()
    assert engagement_activity.counts(person) == {"sign_in": 2}


def updated_at(backend, org_id: str, user_id: str) -> datetime:
    db = Database(backend.admin_url)
    try:
        with db.session(org_id) as s:
            return s.scalar(select(User.updated_at).where(User.id == user_id))
    finally:
        db.dispose()


def test_a_completed_compliance_item_is_activity(api, org, backend):
    """Completing a compliance item counts for the person whose item it is."""
    ana, bo, ana_key, _ = compliance_setup(api, org, backend)
    items = api.get("/v1/compliance/items", ana_key).json()["items"]
    policy = next(i for i in items if i["item"] == "data-protection-policy")
    done = api.post(
        f"/v1/compliance/items/{policy['id']}/complete", ana_key, json={"acknowledge": True}
    )
    assert done.status_code == 200, done.text
    db = Database(backend.url)
    try:
        with org_session(db, org.id) as s:
            found = engagement_activity.people(s, datetime.now(UTC))
    finally:
        db.dispose()
    assert engagement_activity.counts(found[ana["id"]]) == {"sign_in": 1, "compliance_done": 1}
    assert "compliance_done" not in engagement_activity.counts(found[bo["id"]])
