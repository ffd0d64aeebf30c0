"""The periodic evaluation on the workflow engine: the shipped `engagement-watch` run waits
a day, evaluates the rules and starts the nudges; the tests move its clock with the
engine's `clock` signal (its payload's `now` is the evaluation's time), never by patching
time. SQLite, one server running workflows (as tests/server/test_workflows.py)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .harness import Api, new_org, running
from .test_engagement import NUDGE
from .workflow_support import wait_for

pytestmark = pytest.mark.xdist_group("workflows")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runner(team_servers):
    backend = team_servers.backend("sqlite")
    with running(backend, workflow_executor=f"test-{uuid.uuid4().hex[:8]}") as server:
        api = Api(server.url, backend)
        yield api, backend
        api.http.close()


def step_output(api, token, run_id, step, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/v1/workflow-runs/{run_id}", token).json()
        steps = {s["name"]: s for s in run["steps"]}
        if steps.get(step, {}).get("status") == "completed":
            return steps[step]["output"]
        assert run["status"] in ("enqueued", "running") and time.monotonic() < deadline, run
        time.sleep(0.1)


def test_the_watch_evaluates_when_its_clock_moves_and_keeps_the_cap(runner):
    api, backend = runner
    org = new_org(backend)
    t = org.token
    rule = (ROOT / "config/engagement/quiet-during-onboarding.yaml").read_text()
    assert api.post("/v1/engagement/rules", t, json={"text": rule}).status_code == 201
    for text in (NUDGE, (ROOT / "config/workflows/engagement-watch.yaml").read_text()):
        assert api.post("/v1/workflows", t, json={"text": text}).status_code == 201
    email = f"quiet-{uuid.uuid4().hex[:6]}@x.example"
    api.post("/v1/users", t, json={"email": email})
    run = api.post("/v1/workflows/engagement-watch/runs", t, json={"input": {}}).json()
    t0 = datetime.now(UTC)

    def tick(days: float) -> None:
        payload = {"payload": {"now": (t0 + timedelta(days=days)).isoformat()}}
        sent = api.post(f"/v1/workflow-runs/{run['id']}/signals/clock", t, json=payload)
        assert sent.status_code in (200, 202), sent.text

    tick(8)
    day8 = step_output(api, t, run["id"], "evaluate_1")
    assert day8["at"].startswith((t0 + timedelta(days=8)).date().isoformat())
    [nudge] = [s for s in day8["started"] if s["email"] == email]
    assert nudge["rule"] == "quiet-during-onboarding"
    told = wait_for(api, t, nudge["run_id"])
    assert told["status"] == "completed" and told["input"]["email"] == email

    tick(9)  # still quiet, but the rule nudges a person once a week
    day9 = step_output(api, t, run["id"], "evaluate_2")
    assert email not in {s["email"] for s in day9["started"]}
    assert {h["why"] for h in day9["held"] if h["email"] == email} == {"weekly cap reached"}

    tick(16)  # a week after the first nudge: nudged again
    day16 = step_output(api, t, run["id"], "evaluate_3")
    assert email in {s["email"] for s in day16["started"]}

    assert api.post(f"/v1/workflow-runs/{run['id']}/cancel", t, json={}).status_code == 202
    assert wait_for(api, t, run["id"])["status"] == "cancelled"
