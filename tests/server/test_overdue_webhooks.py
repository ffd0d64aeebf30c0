"""Action items' own events, as webhooks to a real loopback receiver: ``action_item.created``
when a stored meeting brings a new item, ``action_item.overdue`` once per item and due
date when the day it was due has ended and it is still open (docs/webhooks.md)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta

import pytest

from .test_webhooks import _subscribe, hooks, org, receiver  # noqa: F401 - fixtures
from .workflow_support import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("workflows")]

YESTERDAY = (date.today() - timedelta(days=1)).isoformat()
NEXT_WEEK = (date.today() + timedelta(days=7)).isoformat()


def _meeting(meeting_id: str, items: list[dict]) -> dict:
    return {
        "id": meeting_id,
        "title": "Acme kickoff",
        "created_at": "2026-12-01T10:00:00Z",
        "duration_s": 60.0,
        "segments": [{"start": 0.0, "end": 2.0, "speaker": "SPEAKER_1", "text": "Hello."}],
        "action_items": items,
    }


def _put(api, tenant, meeting_id: str, items: list[dict]) -> None:
    r = api.put(f"/v1/meetings/{meeting_id}", tenant.token, json=_meeting(meeting_id, items))
    assert r.status_code in (200, 201), r.text


def _bodies(at, path: str, n: int) -> list[dict]:
    got = at.requests(path, n)
    assert all(g["verified"] for g in got), got
    return [json.loads(g["body"]) for g in got]


def _timers(api, tenant, item_id: str, n: int = 1, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        runs = api.get("/v1/workflow-runs?name=overdue", tenant.token).json()["items"]
        mine = [r for r in runs if r["subject"].endswith(f"/{item_id}")]
        if len(mine) >= n:
            return mine
        assert time.monotonic() < deadline, runs
        time.sleep(0.1)


def test_new_items_and_overdue_ones_arrive_once(hooks, org, receiver):  # noqa: F811
    _, path = _subscribe(hooks, org, receiver, types=("action_item.created", "action_item.overdue"))
    meeting = str(uuid.uuid4())
    items = [
        {"id": "late", "owner": "Dana", "task": "Send the report", "due": YESTERDAY},
        {"id": "done", "owner": "Eli", "task": "Book the room", "due": YESTERDAY, "status": "done"},
        {"id": "soon", "owner": "Dana", "task": "Draft the plan", "due": NEXT_WEEK},
        {"id": "undated", "owner": "Eli", "task": "Call the client"},
    ]
    _put(hooks, org, meeting, items)
    # four new items, and the open one due yesterday is overdue at once
    bodies = _bodies(receiver, path, 5)
    created = {b["data"]["item_id"]: b for b in bodies if b["type"] == "action_item.created"}
    assert set(created) == {"late", "done", "soon", "undated"}
    assert created["late"]["data"] | {"event_id": None} == {
        "meeting_id": meeting,
        "item_id": "late",
        "owner": "Dana",
        "task": "Send the report",
        "due": YESTERDAY,
        "event_id": None,
        "subject": f"meeting:{meeting}",
    }
    (late,) = [b for b in bodies if b["type"] == "action_item.overdue"]
    assert late["data"]["item_id"] == "late" and late["data"]["due"] == YESTERDAY

    # the done item's run found it done; the next week's sleeps
    (done_run,) = _timers(hooks, org, "done")
    assert wait_for(hooks, org.token, done_run["id"])["status"] == "completed"
    (soon_run,) = _timers(hooks, org, "soon")
    assert soon_run["status"] in ("enqueued", "running")

    # storing it again with one more item: one more created event, no second timer
    items.append({"id": "new", "owner": "Dana", "task": "Share the slides"})
    _put(hooks, org, meeting, items)
    (again,) = _bodies(receiver, path, 6)[5:]
    assert again["type"] == "action_item.created" and again["data"]["item_id"] == "new"
    assert len(_timers(hooks, org, "late")) == 1

    # the week passes (the clock signal ends the wait): overdue, once
    r = hooks.post(f"/v1/workflow-runs/{soon_run['id']}/signal/clock", org.token, json={})
    assert r.status_code == 202, r.text
    assert wait_for(hooks, org.token, soon_run["id"])["status"] == "completed"
    (soon,) = _bodies(receiver, path, 7)[6:]
    assert soon["type"] == "action_item.overdue" and soon["data"]["item_id"] == "soon"
    time.sleep(0.5)
    assert len(receiver.got[path]) == 7


def test_a_new_due_date_starts_a_new_timer_and_the_old_one_says_nothing(
    hooks,  # noqa: F811
    org,  # noqa: F811
    receiver,  # noqa: F811
):
    _, path = _subscribe(hooks, org, receiver, types=("action_item.overdue",))
    meeting = str(uuid.uuid4())
    item = {"id": "a1", "owner": "Dana", "task": "Send the report", "due": NEXT_WEEK}
    _put(hooks, org, meeting, [item])
    (first,) = _timers(hooks, org, "a1")
    later = (date.today() + timedelta(days=14)).isoformat()
    _put(hooks, org, meeting, [{**item, "due": later}])
    second = next(r for r in _timers(hooks, org, "a1", 2) if r["id"] != first["id"])
    events = hooks.get(f"/v1/events?stream=meeting:{meeting}", org.token).json()["items"]
    changed = [e for e in events if e["type"] == "action_item.due_changed"]
    assert [(e["data"]["previous_due"], e["data"]["due"]) for e in changed] == [(NEXT_WEEK, later)]
    for run in (first, second):
        r = hooks.post(f"/v1/workflow-runs/{run['id']}/signal/clock", org.token, json={})
        assert r.status_code == 202, r.text
        assert wait_for(hooks, org.token, run["id"])["status"] == "completed"
    (body,) = _bodies(receiver, path, 1)
    assert body["data"]["due"] == later  # the first date's run found another date: nothing
    time.sleep(0.5)
    assert len(receiver.got[path]) == 1


POLICY = """
name: overdue-policy
version: 1
title: Onboarding checks
frameworks: [GDPR]
items:
  - {id: read-it, title: Read the policy, kind: acknowledge, due: 1d, document: The text.}
  - {id: sign-it, title: Sign the NDA, kind: acknowledge, due: 1d, document: The NDA.}
  - {id: train, title: Security training, kind: acknowledge, due: 30d, document: The course.}
"""


def test_compliance_items_open_after_their_day_are_overdue_once(hooks, org, receiver):  # noqa: F811
    _, path = _subscribe(hooks, org, receiver, types=("compliance.item_overdue",))
    assert (
        hooks.post("/v1/compliance/policies", org.token, json={"text": POLICY}).status_code == 201
    )
    made = hooks.post("/v1/users", org.token, json={"email": "ana@firm.example"})
    assert made.status_code == 201, made.text
    ana = made.json()["id"]
    start = (date.today() - timedelta(days=3)).isoformat()  # the 1-day items were due 2 days ago
    assigned = hooks.post(
        "/v1/compliance/assignments",
        org.token,
        json={"policy": "overdue-policy", "users": ["ana@firm.example"], "start_date": start},
    )
    assert assigned.status_code == 200, assigned.text
    items = hooks.get("/v1/compliance/items", org.token).json()["items"]
    by_key = {i["item"]: i for i in items if i["user_id"] == ana}
    assert set(by_key) == {"read-it", "sign-it", "train"}
    done = hooks.post(
        f"/v1/compliance/items/{by_key['sign-it']['id']}/complete",
        org.token,
        json={"acknowledge": True},
    )
    # completed before or after the run looked: either way never twice, and never later
    bodies = _bodies(receiver, path, 1)
    assert {b["data"]["user_id"] for b in bodies} == {ana}
    overdue = {b["data"]["item_key"] for b in bodies}
    assert "read-it" in overdue and "train" not in overdue
    # one run per person and due date, not per item: the two 1-day items share one
    runs = hooks.get("/v1/workflow-runs?name=overdue", org.token).json()["items"]
    mine = [r for r in runs if r["subject"].startswith(f"compliance_items:{ana}/")]
    assert len(mine) == 2, mine  # the 1-day date and the 30-day date
    later = next(r for r in mine if r["status"] in ("enqueued", "running"))
    # the training is redated to yesterday: a run of its own, overdue at once
    redated = hooks.post(
        f"/v1/compliance/items/{by_key['train']['id']}/redate",
        org.token,
        json={"due_date": (date.today() - timedelta(days=1)).isoformat()},
    )
    assert redated.status_code == 200, redated.text
    late = _bodies(receiver, path, len(bodies) + 1)[-1]
    assert late["data"]["item_key"] == "train" and late["type"] == "compliance.item_overdue"
    # its first date's run wakes to find another date: nothing more
    r = hooks.post(f"/v1/workflow-runs/{later['id']}/signal/clock", org.token, json={})
    assert r.status_code == 202, r.text
    assert wait_for(hooks, org.token, later["id"])["status"] == "completed"
    time.sleep(0.5)
    keys = sorted(json.loads(g["body"])["data"]["item_key"] for g in receiver.got[path])
    assert keys in (["read-it", "train"], ["read-it", "sign-it", "train"])
    assert done.status_code == 200, done.text
