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
        runs = api.get("/v1/workflow-runs?name=action_items.overdue", tenant.token).json()["items"]
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
