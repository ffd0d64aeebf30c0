"""A workflow's steps wait out the events table's lock (PostgreSQL) when another
transaction holds it for longer than a request would wait: the run is delayed, not failed
(seen in CI: a step gave up after a request's 5 s on a slow machine, and its run failed)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa
from qylon_server.events import store
from qylon_server.events.store import TABLE

from .harness import Api, new_org, running
from .workflow_support import start, steps, wait_for

pytestmark = pytest.mark.xdist_group("workflows")

HELD_S = 3.0  # ten times a request's wait in this test

NAP_THEN_TELL = """
name: nap-then-tell
version: 1
steps:
  - name: nap
    sleep: 1s
  - name: tell
    action: notify
    with: {to: "ops@example.com", subject: "told"}
"""


def test_a_run_waits_out_a_held_event_lock_instead_of_failing(team_servers, monkeypatch):
    backend = team_servers.backend("postgres")  # SQLite has no lock timeout to give up on
    # the server runs in this process: a request's append gives up after 300 ms
    monkeypatch.setattr(store, "LOCK_TIMEOUT", "300ms")
    with running(backend, workflow_executor=f"locks-{uuid.uuid4().hex[:8]}") as server:
        api = Api(server.url, backend)
        org = new_org(backend)
        assert api.post("/v1/workflows", org.token, json={"text": NAP_THEN_TELL}).status_code == 201
        engine = sa.create_engine(backend.admin_url)
        held = threading.Event()
        released: list[float] = []

        def hold():  # another transaction appending events, for HELD_S
            with engine.begin() as conn:
                conn.exec_driver_sql(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
                held.set()
                time.sleep(HELD_S)
                released.append(time.time())

        run_id = start(api, org, "nap-then-tell")
        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert held.wait(10)
            refused = api.post("/v1/workflows/nap-then-tell/runs", org.token, json={"input": {}})
            assert refused.status_code == 409  # a request still gives up after its 300 ms
        finally:
            holder.join()
            engine.dispose()
        run = wait_for(api, org.token, run_id, timeout=60)
        api.http.close()
    assert run["status"] == "completed", run
    done = steps(run)
    assert done["nap"]["status"] == "completed"
    assert done["tell"]["status"] == "completed" and done["tell"]["attempts"] == 1
    # the run's steps were held up by the lock: it ended after its release
    assert datetime.fromisoformat(run["finished_at"]).timestamp() >= released[0]
