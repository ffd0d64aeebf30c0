"""Runs that wait long park: their DBOS workflow ends and a delayed continuation takes
over when the wait ends, so sleeping runs hold no queue slot and no thread. Signals,
``clock`` and cancels reach the continuation; a signal sent before its step waits is kept
for it; a parked wait ends on time by itself. On SQLite and PostgreSQL, with one process
running workflows and room for two runs at once."""

from __future__ import annotations

import time
import uuid

import pytest

from .harness import START_S, Api, new_org, running
from .workflow_support import start, steps, stuck, wait_for

pytestmark = pytest.mark.xdist_group("workflows")

SLEEPERS = """
name: sleeper
version: 1
input:
  n: {type: integer, required: true}
steps:
  - name: nap
    sleep: 2d
  - name: tell
    action: notify
    with: {to: "ops@example.com", subject: "woke {{ input.n }}"}
"""

QUICK = """
name: quick
version: 1
steps:
  - name: tell
    action: notify
    with: {to: "ops@example.com", subject: "quick"}
"""

SIGNALLED = """
name: signalled
version: 1
steps:
  - name: nap
    sleep: 2d
  - name: approve
    wait_for: {signal: approve, timeout: 7d}
  - name: tell
    action: notify
    with: {to: "boss@example.com", subject: "approved by {{ steps.approve.output.by }}"}
"""

UNDONE = """
name: undone
version: 1
steps:
  - name: make
    action: notify
    with: {to: "ops@example.com", subject: "made"}
    compensate:
      action: notify
      with: {to: "ops@example.com", subject: "unmade"}
  - name: nap
    sleep: 30d
"""

SHORT = """
name: short
version: 1
steps:
  - name: nap
    sleep: 3s
  - name: approve
    wait_for: {signal: approve, timeout: 3s}
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def runner(request, team_servers):
    backend = team_servers.backend(request.param)
    settings = {
        "workflow_executor": f"park-{uuid.uuid4().hex[:8]}",
        "workflow_worker_concurrency": 2,
        "workflow_park_after": 1.0,
    }
    with running(backend, **settings) as server:
        api = Api(server.url, backend)
        yield api
        api.http.close()


@pytest.fixture
def org(runner):
    org = new_org(runner.backend)
    for text in (SLEEPERS, QUICK, SIGNALLED, UNDONE, SHORT):
        assert runner.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
    return org


def parked_in(api, org, run_id: str, step: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/v1/workflow-runs/{run_id}", org.token).json()
        here = steps(run).get(step, {})
        if here.get("parked") and (run["engine"] or {}).get("status") == "DELAYED":
            return run
        assert time.monotonic() < deadline, stuck(api, run)
        time.sleep(0.1)


def engine_reaches(api, org, run_id: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/v1/workflow-runs/{run_id}", org.token).json()
        if (run["engine"] or {}).get("status") == status:
            return
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def signal(api, org, run_id: str, name: str, payload=None) -> None:
    r = api.post(f"/v1/workflow-runs/{run_id}/signal/{name}", org.token, json={"payload": payload})
    assert r.status_code == 202, r.text


def notes(api, org) -> list[str]:
    events = api.get("/v1/audit-events", org.token, params={"limit": 200}).json()["items"]
    return sorted(e["detail"]["subject"] for e in events if e["action"] == "workflow.notify")


def test_sleeping_runs_take_no_place_and_wake_on_the_clock(runner, org):
    """Five runs sleep two days with room for two runs at once: all five park, a run
    started after them finishes at once, and the clock wakes each sleeper exactly once."""
    sleepers = [start(runner, org, "sleeper", {"n": n}) for n in range(5)]
    parked = [parked_in(runner, org, run_id, "nap") for run_id in sleepers]
    for run in parked:
        assert run["status"] == "running"
        assert run["engine"]["workflow_id"].startswith(run["id"] + "~")
        nap = steps(run)["nap"]
        assert nap["status"] == "sleeping" and nap["signal"] == "clock" and nap["until"]
    quick = wait_for(runner, org.token, start(runner, org, "quick"))
    assert quick["status"] == "completed"
    for run_id in sleepers:
        signal(runner, org, run_id, "clock")
    done = [wait_for(runner, org.token, run_id) for run_id in sleepers]
    assert {r["status"] for r in done} == {"completed"}
    for run_id in sleepers:  # DBOS records its end just after the run's last transaction
        engine_reaches(runner, org, run_id, "SUCCESS")
    said = notes(runner, org)
    assert said == ["quick"] + [f"woke {n}" for n in range(5)], (said, done)


def test_a_signal_sent_early_waits_for_its_step(runner, org):
    """``approve`` arrives while the run sleeps parked: it does not end the sleep, and the
    wait_for after it takes it at once when the clock ends the sleep."""
    run_id = start(runner, org, "signalled")
    before = parked_in(runner, org, run_id, "nap")["engine"]["workflow_id"]
    signal(runner, org, run_id, "approve", {"by": "Ana"})
    time.sleep(1.5)  # the continuation stays delayed: approve is not what the nap waits for
    run = parked_in(runner, org, run_id, "nap")
    assert steps(run)["nap"]["status"] == "sleeping" and "approve" not in steps(run)
    assert run["engine"]["workflow_id"] == before
    signal(runner, org, run_id, "clock")
    run = wait_for(runner, org.token, run_id)
    assert run["status"] == "completed", run
    assert steps(run)["approve"]["output"] == {"by": "Ana"}
    assert notes(runner, org) == ["approved by Ana"]


def test_cancelling_a_parked_run_undoes_it(runner, org):
    run_id = start(runner, org, "undone")
    parked_in(runner, org, run_id, "nap")
    r = runner.post(f"/v1/workflow-runs/{run_id}/cancel", org.token)
    assert r.status_code == 202, r.text
    run = wait_for(runner, org.token, run_id)
    assert run["status"] == "cancelled", run
    assert steps(run)["make.compensate"]["status"] == "completed"
    assert notes(runner, org) == ["made", "unmade"]


def test_a_parked_wait_ends_on_time_by_itself(runner, org):
    """No clock: the 3 s sleep parks and its continuation starts when it ends; the 3 s
    wait_for parks too and fails with ``timeout`` when nobody signals."""
    run_id = start(runner, org, "short")
    parked_in(runner, org, run_id, "nap")
    begun = time.monotonic()
    run = wait_for(runner, org.token, run_id)
    assert run["status"] == "failed", run
    assert steps(run)["nap"]["status"] == "completed"
    assert steps(run)["approve"]["error"]["code"] == "timeout"
    assert time.monotonic() - begun >= 4  # both waits ran their time (less the first's head)


TIMED = """
name: timed
version: 1
timeout: 4s
steps:
  - name: nap
    sleep: 1d
"""


def test_a_parked_run_times_out_at_its_deadline(runner, org):
    """The run's 4 s timeout comes long before its day-long sleep ends: the
    continuation wakes at the deadline and the run ends ``timed_out``."""
    assert runner.post("/v1/workflows", org.token, json={"text": TIMED}).status_code == 201
    run_id = start(runner, org, "timed")
    parked_in(runner, org, run_id, "nap")
    run = wait_for(runner, org.token, run_id)
    assert run["status"] == "timed_out", run
    assert steps(run)["nap"]["status"] == "timed_out"


LATE_USER = """
name: late-user
version: 1
input:
  email: {type: string, required: true}
steps:
  - name: deactivate
    action: users.deactivate
    with: {email: "{{ input.email }}"}
    retry: {max_attempts: 3, initial_interval: 1h, retry_on: [not_found]}
  - name: tell
    action: notify
    with: {to: "ops@example.com", subject: "{{ input.email }} left"}
"""


def test_a_long_retry_backoff_parks_and_the_clock_resumes_it(runner, org):
    """The first attempt fails (no such user yet) and the hour-long backoff parks the run
    (``retrying``, parked, on ``clock``), holding no place: two runs started after it
    (the queue's room) finish at once. Once the user exists, the clock ends the backoff: the continuation
    makes the second attempt, which succeeds, and the run goes on."""
    assert runner.post("/v1/workflows", org.token, json={"text": LATE_USER}).status_code == 201
    email = f"late-{uuid.uuid4().hex[:6]}@example.com"
    run_id = start(runner, org, "late-user", {"email": email})
    deadline = time.monotonic() + START_S
    while True:  # parked_in, for a step that retries
        run = runner.get(f"/v1/workflow-runs/{run_id}", org.token).json()
        step = steps(run).get("deactivate", {})
        if step.get("parked") and (run["engine"] or {}).get("status") == "DELAYED":
            break
        assert time.monotonic() < deadline, run
        time.sleep(0.1)
    assert step["status"] == "retrying" and step["attempts"] == 1, step
    assert step["signal"] == "clock" and step["until"]
    assert step["error"]["code"] == "not_found"
    assert run["engine"]["workflow_id"] == f"{run_id}~1"
    quick = [start(runner, org, "quick") for _ in range(2)]  # the queue's room: two runs
    assert {wait_for(runner, org.token, q, 20)["status"] for q in quick} == {"completed"}

    made = runner.post("/v1/users", org.token, json={"email": email, "role": "member"})
    assert made.status_code == 201, made.text
    signal(runner, org, run_id, "clock")
    run = wait_for(runner, org.token, run_id)
    assert run["status"] == "completed", run
    assert steps(run)["deactivate"]["status"] == "completed"
    assert steps(run)["deactivate"]["attempts"] == 2
    assert notes(runner, org) == sorted(["quick", "quick", f"{email} left"])
