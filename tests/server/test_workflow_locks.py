"""A workflow's steps wait out the events table's lock (PostgreSQL) when another
transaction holds it for longer than a request would wait: the run is delayed, not failed
(seen in CI: a step gave up after a request's 5 s on a slow machine, and its run failed).
A bookkeeping step that still fails (the lock held past even a step's wait) is tried
again, rather than leaving its run ``enqueued`` for good with DBOS's workflow in ERROR;
an action whose transaction lost the race runs again as the same attempt."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa
from qylon_server.events import store
from qylon_server.events.store import TABLE
from qylon_server.workflows import attempts

from .harness import Api, new_org, running
from .workflow_support import start, steps, wait_for

pytestmark = pytest.mark.xdist_group("workflows")


NAP_THEN_TELL = """
name: nap-then-tell
version: 1
steps:
  - name: nap
    sleep: 2s  # the lock is taken before it ends, on a loaded machine too
  - name: tell
    action: notify
    with: {to: "ops@example.com", subject: "told"}
"""


def _hold(engine, held: threading.Event, seconds: float, released: list[float]) -> None:
    """Another transaction appending events: the events table's lock, for ``seconds``."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
        held.set()
        time.sleep(seconds)
        released.append(time.time())


def _held_while_running(backend, seconds: float) -> tuple[dict, float]:
    """Start a run, hold the events table's lock for ``seconds`` from just after; the run
    at its end and the time the lock was let go."""
    with running(backend, workflow_executor=f"locks-{uuid.uuid4().hex[:8]}") as server:
        api = Api(server.url, backend)
        org = new_org(backend)
        assert api.post("/v1/workflows", org.token, json={"text": NAP_THEN_TELL}).status_code == 201
        engine = sa.create_engine(backend.admin_url)
        held = threading.Event()
        released: list[float] = []
        run_id = start(api, org, "nap-then-tell")
        holder = threading.Thread(target=_hold, args=(engine, held, seconds, released))
        holder.start()
        try:
            assert held.wait(10)
            with pytest.MonkeyPatch.context() as patch:  # this request gives up after 300 ms
                patch.setattr(store, "LOCK_TIMEOUT", "300ms")  # the server is in this process
                refused = api.post(
                    "/v1/workflows/nap-then-tell/runs", org.token, json={"input": {}}
                )
            if not released:  # answered while the lock was held: it gave up after 300 ms
                assert refused.status_code == 409, refused.text
        finally:
            holder.join()
            engine.dispose()
        run = wait_for(api, org.token, run_id, timeout=60)
        api.http.close()
    return run, released[0]


def _completed_after(run: dict, released: float) -> None:
    assert run["status"] == "completed", run
    done = steps(run)
    assert done["nap"]["status"] == "completed"
    assert done["tell"]["status"] == "completed" and done["tell"]["attempts"] == 1
    # the run's steps were held up by the lock: it ended after its release
    assert datetime.fromisoformat(run["finished_at"]).timestamp() >= released


@pytest.fixture
def backend(team_servers):
    # Requests keep their 5 s wait but where a test shortens it: in CI, with the workflows
    # of earlier tests of this database still running, a 300 ms wait refused a definition
    return team_servers.backend("postgres")  # SQLite has no lock timeout to give up on


def test_a_run_waits_out_a_held_event_lock_instead_of_failing(backend):
    _completed_after(*_held_while_running(backend, 3.0))  # ten times a request's wait


def test_a_step_that_gives_up_on_the_lock_is_tried_again(backend, monkeypatch):
    monkeypatch.setattr(attempts, "BACKGROUND_LOCK_TIMEOUT", "300ms")
    _completed_after(*_held_while_running(backend, 1.5))  # within the retries' 3.5 s


TELL = """
name: tell
version: 1
steps:
  - name: tell
    action: notify
    with: {to: "ops@example.com", subject: "told"}
"""


def test_an_action_whose_transaction_lost_a_race_runs_again_as_the_same_attempt(
    backend, monkeypatch
):
    """Another transaction takes the events table's lock while the step's action runs and
    keeps it past the step's wait: the step's transaction gives up (a lost race, as a
    deadlock would be), is undone, and runs again as the same attempt instead of being
    recorded as a failure."""
    monkeypatch.setattr(attempts, "BACKGROUND_LOCK_TIMEOUT", "300ms")
    engine = sa.create_engine(backend.admin_url)
    held, calls = threading.Event(), []
    holder = threading.Thread(target=_hold, args=(engine, held, 1.5, []))
    real = attempts.actions.call

    def call(action, context, args):  # the lock is taken while the first try runs
        calls.append(action)
        if len(calls) == 1:
            holder.start()
            assert held.wait(10)
        return real(action, context, args)

    monkeypatch.setattr(attempts.actions, "call", call)
    try:
        with running(backend, workflow_executor=f"locks-{uuid.uuid4().hex[:8]}") as server:
            api = Api(server.url, backend)
            org = new_org(backend)
            assert api.post("/v1/workflows", org.token, json={"text": TELL}).status_code == 201
            run = wait_for(api, org.token, start(api, org, "tell"), timeout=60)
            api.http.close()
    finally:
        if holder.is_alive():
            holder.join()
        engine.dispose()
    assert run["status"] == "completed", run
    assert steps(run)["tell"]["attempts"] == 1
    assert len(calls) >= 2  # the first try was undone and the action ran again
