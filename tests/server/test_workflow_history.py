"""A run's history: a real DBOS run (SQLite) whose events tell what happened, in order,
through `qylon workflows history`, and whose `flow_runs` row replays from them."""

from __future__ import annotations

import uuid

import pytest
from qylon_server.db import Database
from qylon_server.events import projections
from qylon_server.tenancy import org_session

from ..conftest import run_qylon
from .harness import Api, new_org
from .test_events import snapshot

FAILING = """
name: events-fail-third
version: 1
input:
  email: {type: string, required: true}
steps:
  - name: deactivate
    action: users.deactivate
    with: {email: "{{ input.email }}"}
    compensate:
      action: users.reactivate
      with: {user_id: "{{ steps.deactivate.output.id }}"}
  - name: tell
    action: notify
    with: {to: "boss@example.com", subject: "{{ input.email }} leaves"}
  - name: boom
    action: fail
    with: {code: conflict, message: "the third step fails"}
"""


@pytest.mark.xdist_group("workflows")  # DBOS is one per process
def test_a_runs_events_tell_its_story_and_replay_to_its_row(team_servers):
    import time

    from .harness import running

    backend = team_servers.backend("sqlite")
    org = new_org(backend)
    with running(backend, workflow_executor=f"events-{uuid.uuid4().hex[:8]}") as server:
        api = Api(server.url)
        user = api.post("/v1/users", org.token, json={"email": "stays@acme.example"}).json()
        assert api.post("/v1/workflows", org.token, json={"text": FAILING}).status_code == 201
        started = api.post(
            "/v1/workflows/events-fail-third/runs",
            org.token,
            json={"input": {"email": "stays@acme.example"}},
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        deadline = time.monotonic() + 60
        while (run := api.get(f"/v1/workflow-runs/{run_id}", org.token).json())["status"] in (
            "enqueued",
            "running",
        ):
            assert time.monotonic() < deadline, run
            time.sleep(0.2)
        assert run["status"] == "compensated", run

        env = {"QYLON_SERVER": server.url, "QYLON_TOKEN": org.token}
        shown = run_qylon("workflows", "history", run_id, "--json", env=env)
        assert shown.code == 0, shown.stderr
        everything = shown.json["data"]["items"]  # the owner reads every stream: the user's too
        assert [e["type"] for e in everything if not e["stream"].startswith("workflow_run:")] == [
            "user.deactivated",
            "user.reactivated",
        ]
        own = [e for e in everything if e["stream"] == f"workflow_run:{run_id}"]
        story = [(e["type"].removeprefix("workflow_run."), e["data"].get("step")) for e in own]
        assert story == [
            ("enqueued", None),
            ("started", None),
            ("step_completed", "deactivate"),
            ("step_completed", "tell"),
            ("step_attempted", "boom"),
            ("step_compensated", "deactivate.compensate"),
            ("finished", None),
        ]
        items = own
        assert items[-1]["data"]["status"] == "compensated"
        assert [e["version"] for e in items] == list(range(1, 8))
        assert {e["correlation_id"] for e in items} == {run_id}
        assert items[0]["actor"]["user_id"] == org.owner_id
        human = run_qylon("workflows", "history", run_id, env=env)
        assert human.code == 0 and "step_compensated" in human.stdout
        # a member may not read every stream: the run's own events only
        member = {**env, "QYLON_TOKEN": api.make_user(org.token, "member")}
        theirs = run_qylon("workflows", "history", run_id, "--json", env=member)
        assert theirs.code == 0, theirs.stderr
        assert [e["id"] for e in theirs.json["data"]["items"]] == [e["id"] for e in own]
        assert run_qylon("workflows", "history", "run-nope", "--json", env=env).code == 5

        # the user changes the steps made belong to the run (correlation) and its steps (causation)
        related = api.get("/v1/events", org.token, params={"correlation_id": run_id}).json()[
            "items"
        ]
        user_events = [e for e in related if e["stream"] == f"user:{user['id']}"]
        assert [e["type"] for e in user_events] == ["user.deactivated", "user.reactivated"]
        assert user_events[0]["causation_id"] == f"{run_id}/deactivate"

        tail = run_qylon(
            "events", "tail", "--correlation-id", run_id, "--limit", "3", "--json", env=env
        )
        assert tail.code == 0, tail.stderr
        assert [e["type"] for e in tail.json["data"]["items"]][-1] == "workflow_run.finished"
        api.http.close()

    db = Database(backend.url)
    try:
        live = snapshot(db, org.id)
        with org_session(db, org.id) as s:
            assert projections.rebuild_runs(s) == 1
        assert snapshot(db, org.id) == live
    finally:
        db.dispose()
