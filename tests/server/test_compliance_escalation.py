"""Escalation of overdue items as a durable workflow, against a real SMTP server (aiosmtpd):
the person hears first, then their manager, per the policy's ladder; time moves by the
``clock`` signal (which ends a sleep early), never by patching ``time``. A person who
completes their item hears nothing. Each rung waits until an absolute time (the due
date + the rung's ``after``); a redated item's ladder follows its new date, a withdrawn
item's ends."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from .harness import Api, new_org, running
from .smtp_relay import Relay
from .workflow_support import _steps_when, wait_for

pytestmark = pytest.mark.xdist_group("workflows")

POLICY = """
name: quick-escalation
version: 1
title: Quick escalation
frameworks: [SOC 2]
escalation:
  - {after: 1d, notify: person}
  - {after: 2d, notify: manager}
items:
  - id: second-factor
    title: Turn on a second factor
    kind: second_factor
    due: 1d
"""


@pytest.fixture(scope="module")
def escalating(team_servers):
    relay = Relay().start()
    backend = team_servers.backend("sqlite")
    try:
        with running(
            backend,
            workflow_executor=f"comp-{uuid.uuid4().hex[:8]}",
            mail_from="compliance@firm.example",
            smtp_url=relay.url,
        ) as server:
            api = Api(server.url, backend)
            yield api, relay, backend
            api.http.close()
    finally:
        relay.stop()


def _mail_to(relay, address: str, count: int, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in relay.messages if m["To"] == address]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _setup(api, backend):
    org = new_org(backend)
    assert api.post("/v1/compliance/policies", org.token, json={"text": POLICY}).status_code == 201
    boss = api.post("/v1/users", org.token, json={"email": f"boss-{org.id[:6]}@firm.example", "role": "manager"}).json()  # fmt: skip
    person = api.post("/v1/users", org.token, json={"email": f"new-{org.id[:6]}@firm.example", "manager_id": boss["id"]}).json()  # fmt: skip
    r = api.post(
        "/v1/compliance/assignments",
        org.token,
        json={"policy": "quick-escalation", "users": [person["email"]]},
    )
    assert r.status_code == 200, r.text
    (item,) = r.json()["assigned"]
    assert item["run_id"]
    return org, person, boss, item


def _tick(api, org, run_id):
    r = api.post(f"/v1/workflow-runs/{run_id}/signal/clock", org.token, json={"payload": None})
    assert r.status_code in (200, 202), r.text


def test_the_person_then_the_manager_hear_of_an_overdue_item(escalating):
    api, relay, backend = escalating
    org, person, boss, item = _setup(api, backend)
    assert person.get("manager_id") == boss["id"], person
    _tick(api, org, item["run_id"])  # two days pass: a day overdue
    (reminder,) = _mail_to(relay, person["email"], 1)
    assert "Turn on a second factor" in reminder.get_payload()
    assert "/p/checklist?t=" in reminder.get_payload()
    assert reminder["Message-ID"] == f"<{item['run_id']}.person_1@firm.example>"
    assert _mail_to(relay, boss["email"], 1, timeout=1) == []  # not yet
    _tick(api, org, item["run_id"])  # a third day: the manager's rung
    (escalation,) = _mail_to(relay, boss["email"], 1)
    assert escalation["Subject"].startswith("Overdue compliance items")
    run = wait_for(api, org.token, item["run_id"])
    assert run["status"] == "completed", run
    seen = api.get(f"/v1/compliance/items?user={person['email']}", org.token).json()["items"]
    assert [e["notify"] for e in seen[0]["escalations"]] == ["person", "manager"]
    assert len(_mail_to(relay, person["email"], 2, timeout=1)) == 1  # nothing more


def test_a_completed_item_stops_the_ladder(escalating):
    api, relay, backend = escalating
    org, person, boss, item = _setup(api, backend)
    png = "iVBORw0KGgoAAAAAAAAAAAAAAAAAAAAA"  # a PNG's signature, base64
    done = api.post(
        f"/v1/compliance/items/{item['id']}/complete",
        org.token,
        json={"content_base64": png, "content_type": "image/png"},
    )
    assert done.status_code == 200, done.text
    _tick(api, org, item["run_id"])
    run = wait_for(api, org.token, item["run_id"])
    assert run["status"] == "completed", run
    assert _mail_to(relay, person["email"], 1, timeout=1) == []
    assert _mail_to(relay, boss["email"], 1, timeout=0) == []


def _rung(due: str, after_days: int) -> datetime:
    return datetime.combine(date.fromisoformat(due), datetime.min.time(), UTC) + timedelta(
        days=after_days
    )


def _sleeping(api, org, run_id: str, step: str) -> dict:
    """The run's steps once ``step`` sleeps (parked: a rung is days away)."""
    found, _ = _steps_when(
        api, org.token, run_id, lambda s: s.get(step, {}).get("status") == "sleeping"
    )
    return found


def test_each_rung_waits_until_its_absolute_time(escalating):
    api, _, backend = escalating
    org, _, _, item = _setup(api, backend)
    wait = _sleeping(api, org, item["run_id"], "wait_1")["wait_1"]
    assert datetime.fromisoformat(wait["until"]) == _rung(item["due_date"], 1)
    assert wait["signal"] == "clock"


def test_a_redated_item_escalates_from_its_new_date(escalating):
    api, relay, backend = escalating
    org, person, _, item = _setup(api, backend)
    _sleeping(api, org, item["run_id"], "wait_1")
    later = (date.today() + timedelta(days=10)).isoformat()
    r = api.post(f"/v1/compliance/items/{item['id']}/redate", org.token, json={"due_date": later})
    assert r.status_code == 200, r.text
    assert r.json()["run_id"] == item["run_id"]  # the same run, told to plan again
    found = _sleeping(api, org, item["run_id"], "wait_2")
    assert found["wait_1"]["output"] == {"replan": "redated"}
    assert found["check_1"]["status"] == "skipped"  # nothing taken to have passed
    assert datetime.fromisoformat(found["wait_2"]["until"]) == _rung(later, 1)
    assert _mail_to(relay, person["email"], 1, timeout=1) == []
    _tick(api, org, item["run_id"])  # the new date's first rung
    (reminder,) = _mail_to(relay, person["email"], 1)
    assert f"(due {later})" in reminder.get_payload()
    seen = api.get(f"/v1/compliance/items?user={person['email']}", org.token).json()["items"]
    (escalation,) = seen[0]["escalations"]
    assert escalation["due_date"] == later
    assert datetime.fromisoformat(escalation["time"]) == _rung(later, 1)


def test_a_withdrawn_item_ends_the_ladder(escalating):
    api, relay, backend = escalating
    org, person, _, item = _setup(api, backend)
    _sleeping(api, org, item["run_id"], "wait_1")
    r = api.post(
        f"/v1/compliance/items/{item['id']}/withdraw", org.token, json={"reason": "Left early"}
    )
    assert r.status_code == 200, r.text
    run = wait_for(api, org.token, item["run_id"])  # no clock: it plans again and is done
    assert run["status"] == "completed", run
    assert _mail_to(relay, person["email"], 1, timeout=1) == []


def test_redating_after_the_ladder_ended_starts_it_again(escalating):
    api, relay, backend = escalating
    org, person, _, item = _setup(api, backend)
    _tick(api, org, item["run_id"])
    _mail_to(relay, person["email"], 1)
    _tick(api, org, item["run_id"])
    assert wait_for(api, org.token, item["run_id"])["status"] == "completed"
    later = (date.today() + timedelta(days=5)).isoformat()
    r = api.post(f"/v1/compliance/items/{item['id']}/redate", org.token, json={"due_date": later})
    assert r.status_code == 200, r.text
    fresh = r.json()["run_id"]
    assert fresh and fresh != item["run_id"]
    wait = _sleeping(api, org, fresh, "wait_1")["wait_1"]
    assert datetime.fromisoformat(wait["until"]) == _rung(later, 1)
    _tick(api, org, fresh)
    assert len(_mail_to(relay, person["email"], 2)) == 2  # reminded again, of the new date
