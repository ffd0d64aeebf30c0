"""Controlling runs: timeouts of a step and of a run, backoff capped at max_interval,
cancel (the completed steps undone) and resume (on from where the run stopped), and a
plugin action's own compensation. One server process runs workflows (SQLite)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from ..conftest import TEST_PLUGINS, credentials, run_qylon
from .harness import Api, new_org, running
from .workflow_support import start, steps, wait_for

pytestmark = pytest.mark.xdist_group("workflows")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runner(team_servers):
    backend = team_servers.backend("sqlite")
    with running(backend, workflow_executor=f"test-{uuid.uuid4().hex[:8]}") as server:
        api = Api(server.url, backend)
        api.url = server.url
        yield api
        api.http.close()


@pytest.fixture
def org(runner, team_servers):
    return new_org(team_servers.backend("sqlite"))


def upload(api, org, text: str) -> None:
    r = api.post("/v1/workflows", org.token, json={"text": text})
    assert r.status_code == 201, r.text


def until(api, org, run_id: str, test, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/v1/workflow-runs/{run_id}", org.token).json()
        if test(run):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def ended(api, org, run_id: str, timeout: float = 30) -> dict:
    return wait_for(api, org.token, run_id, timeout)


def step_waiting(name: str):
    return lambda r: steps(r).get(name, {}).get("status") == "waiting"


def make_user(api, org) -> dict:
    email = f"leaver-{uuid.uuid4().hex[:6]}@example.com"
    r = api.post(
        "/v1/users", org.token, json={"email": email, "display_name": "Lee Ver", "role": "member"}
    )
    assert r.status_code == 201, r.text
    return r.json()


def user_status(api, org, user_id: str) -> str:
    return api.get(f"/v1/users/{user_id}", org.token).json()["status"]


def attempt_starts(run_id: str, name: str) -> list[float]:
    from dbos import DBOS

    return [
        s["started_at_epoch_ms"] / 1000
        for s in DBOS.list_workflow_steps(run_id)
        if s["function_name"] == name
    ]


BACKOFF = """
name: backoff
version: 1
steps:
  - name: boom
    action: fail
    with: {code: unavailable}
    retry: {max_attempts: 3, initial_interval: 1s, backoff_rate: 10, max_interval: 1s}
"""


def test_backoff_grows_no_longer_than_max_interval(runner, org):
    upload(runner, org, BACKOFF)
    run = ended(runner, org, start(runner, org, "backoff"))
    assert run["status"] == "failed" and steps(run)["boom"]["attempts"] == 3
    first, second, third = attempt_starts(run["id"], "boom")
    assert 0.9 <= second - first < 3
    assert 0.9 <= third - second < 3  # uncapped: 10 s


DEADLINES = """
name: deadlines
version: 1
input:
  email: {type: string, required: true}
steps:
  - name: deactivate
    action: users.deactivate
    with: {email: "{{ input.email }}"}
    compensate:
      action: users.reactivate
      with: {email: "{{ input.email }}"}
  - name: slow
    action: sample.slow
    with: {seconds: 2}
    timeout: 1s
    retry: {max_attempts: 2, initial_interval: 1s}
"""

RUN_DEADLINE = """
name: run-deadline
version: 1
input:
  email: {type: string, required: true}
timeout: 3s
steps:
  - name: deactivate
    action: users.deactivate
    with: {email: "{{ input.email }}"}
    compensate:
      action: users.reactivate
      with: {email: "{{ input.email }}"}
  - name: quick
    action: sample.slow
    with: {seconds: 0.1}
    timeout: 1s
  - name: nap
    sleep: 1h
"""


@pytest.fixture
def sample_plugin(monkeypatch):
    from qylon_cli import plugins

    monkeypatch.syspath_prepend(str(ROOT / "tests/plugins/sample"))
    monkeypatch.setenv("QYLON_LOAD_PLUGINS", f"{TEST_PLUGINS},sample")
    plugins.reset()
    yield
    plugins.reset()


def test_a_step_past_its_timeout_fails_and_the_run_times_out(runner, org, sample_plugin):
    """`slow` takes 2 s against its 1 s timeout (twice): the run is undone. In the second
    workflow `nap` would sleep for an hour, but the run's 3 s timeout stops it: the
    deactivation is undone, the run is timed_out."""
    upload(runner, org, DEADLINES)
    upload(runner, org, RUN_DEADLINE)
    user = make_user(runner, org)

    run = ended(runner, org, start(runner, org, "deadlines", {"email": user["email"]}))
    assert run["status"] == "compensated", run  # `slow` failed for good: timeout twice
    slow = steps(run)["slow"]
    assert slow["status"] == "failed" and slow["attempts"] == 2
    assert slow["error"]["code"] == "timeout"
    assert user_status(runner, org, user["id"]) == "active"

    begun = time.monotonic()
    run = ended(runner, org, start(runner, org, "run-deadline", {"email": user["email"]}))
    assert run["status"] == "timed_out", run
    assert time.monotonic() - begun < 20
    assert steps(run)["quick"]["status"] == "completed"
    assert steps(run)["nap"]["status"] == "timed_out"
    assert steps(run)["deactivate.compensate"]["status"] == "completed"
    assert run["deadline_at"] is not None and "nap" in run["error"]
    assert user_status(runner, org, user["id"]) == "active"


CANCEL = """
name: cancel-me
version: 1
input:
  email: {type: string, required: true}
steps:
  - name: deactivate
    action: users.deactivate
    with: {email: "{{ input.email }}"}
    compensate:
      action: users.reactivate
      with: {email: "{{ input.email }}"}
  - name: approve
    wait_for: {signal: approve, timeout: 1h}
"""


def test_cancel_stops_a_waiting_run_and_undoes_it(runner, org):
    upload(runner, org, CANCEL)
    user = make_user(runner, org)
    run_id = start(runner, org, "cancel-me", {"email": user["email"]})
    until(runner, org, run_id, step_waiting("approve"))
    assert user_status(runner, org, user["id"]) == "deactivated"

    env = credentials(runner.url, org.token)
    out = run_qylon("workflows", "cancel", run_id, "--wait", "--json", env=env)
    assert out.code == 0, out.stderr
    run = out.json["data"]
    assert run["status"] == "cancelled", run
    assert steps(run)["approve"]["status"] == "cancelled"
    assert steps(run)["deactivate.compensate"]["status"] == "completed"
    assert user_status(runner, org, user["id"]) == "active"

    again = run_qylon("workflows", "cancel", run_id, "--json", env=env)
    assert again.code == 3 and again.json["error"]["code"] == "conflict"
    listed = run_qylon("workflows", "runs", "--status", "cancelled", "--json", env=env)
    assert [r["id"] for r in listed.json["data"]["items"]] == [run_id]
    # undone: nothing to go on with
    refused = runner.post(f"/v1/workflow-runs/{run_id}/resume", org.token, json={})
    assert refused.status_code == 409, refused.text
    audit = runner.get("/v1/audit-events", org.token, params={"limit": 100}).json()["items"]
    assert "workflow.run.cancel" in {e["action"] for e in audit}


RETRY_FOREVER = """
name: retry-forever
version: 1
steps:
  - name: boom
    action: fail
    with: {code: unavailable}
    retry: {max_attempts: 50, initial_interval: 1h}
"""


def test_cancel_ends_a_retry_backoff_at_once(runner, org):
    upload(runner, org, RETRY_FOREVER)
    run_id = start(runner, org, "retry-forever")
    until(runner, org, run_id, lambda r: steps(r).get("boom", {}).get("status") == "retrying")
    r = runner.post(f"/v1/workflow-runs/{run_id}/cancel", org.token, json={})
    assert r.status_code == 202 and r.json()["cancel_requested_at"], r.text
    run = ended(runner, org, run_id, timeout=15)
    assert run["status"] == "cancelled" and steps(run)["boom"]["attempts"] == 1


GO_ON = """
name: go-on
version: 1
input:
  email: {type: string, required: true}
steps:
  - name: tell
    action: notify
    with: {to: "boss@example.com", subject: "{{ input.email }} leaves"}
  - name: deactivate
    action: users.deactivate
    with: {email: "{{ input.email }}"}
"""


def test_resume_goes_on_from_the_step_that_failed(runner, org):
    """`deactivate` fails (no such user) with nothing to undo; once the user exists,
    resume runs it again, and `tell` is not repeated."""
    upload(runner, org, GO_ON)
    email = f"late-{uuid.uuid4().hex[:6]}@example.com"
    run_id = start(runner, org, "go-on", {"email": email})
    run = ended(runner, org, run_id)
    assert run["status"] == "failed" and steps(run)["deactivate"]["error"]["code"] == "not_found"

    r = runner.post("/v1/users", org.token, json={"email": email, "role": "member"})
    assert r.status_code == 201, r.text
    env = credentials(runner.url, org.token)
    out = run_qylon("workflows", "resume", run_id, "--wait", "--json", env=env)
    assert out.code == 0, out.stderr
    run = out.json["data"]
    assert run["status"] == "completed" and run["resumed_at"], run
    assert steps(run)["deactivate"]["status"] == "completed"
    audit = runner.get("/v1/audit-events", org.token, params={"limit": 100}).json()["items"]
    assert [e["action"] for e in audit].count("workflow.notify") == 1
    assert "workflow.run.resume" in {e["action"] for e in audit}
    done = run_qylon("workflows", "resume", run_id, "--json", env=env)
    assert done.code == 3 and "nothing to resume" in done.json["error"]["message"]


UNDO_FAILS = """
name: undo-fails
version: 1
input:
  helper: {type: string, required: true}
steps:
  - name: tell
    action: notify
    with: {to: "boss@example.com", subject: "starting"}
    compensate:
      action: users.reactivate
      with: {email: "{{ input.helper }}"}
  - name: boom
    action: fail
    with: {code: conflict}
"""


def test_resume_retries_a_failed_compensation(runner, org):
    upload(runner, org, UNDO_FAILS)
    email = f"helper-{uuid.uuid4().hex[:6]}@example.com"
    run_id = start(runner, org, "undo-fails", {"helper": email})
    run = ended(runner, org, run_id)
    assert run["status"] == "failed", run  # needs attention: its undo failed
    assert steps(run)["tell.compensate"]["status"] == "failed"

    r = runner.post("/v1/users", org.token, json={"email": email, "role": "member"})
    assert r.status_code == 201, r.text
    assert runner.post(f"/v1/workflow-runs/{run_id}/resume", org.token, json={}).status_code == 202
    run = ended(runner, org, run_id)
    assert run["status"] == "compensated", run
    assert steps(run)["tell.compensate"]["status"] == "completed"
    assert steps(run)["boom"]["attempts"] == 1  # the failed step is not tried again


PAUSE = """
name: pause
version: 1
steps:
  - name: approve
    wait_for: {signal: approve, timeout: 1h}
  - name: nap
    sleep: 1s
  - name: tell
    action: notify
    with: {to: "boss@example.com", subject: "approved"}
"""


def test_a_cancelled_run_resumed_waits_again(runner, org):
    """Nothing to undo, so a cancelled run can go on; the cancel left on the clock does
    not stop the `nap` after the resume."""
    upload(runner, org, PAUSE)
    run_id = start(runner, org, "pause")
    until(runner, org, run_id, step_waiting("approve"))
    cancelled = runner.post(f"/v1/workflow-runs/{run_id}/cancel", org.token, json={})
    assert cancelled.status_code == 202, cancelled.text
    assert ended(runner, org, run_id)["status"] == "cancelled"

    resumed = runner.post(f"/v1/workflow-runs/{run_id}/resume", org.token, json={})
    assert resumed.status_code == 202, resumed.text
    assert until(runner, org, run_id, step_waiting("approve"))["status"] == "running"
    sent = runner.post(f"/v1/workflow-runs/{run_id}/signal/approve", org.token, json={})
    assert sent.status_code == 202
    run = ended(runner, org, run_id)
    assert run["status"] == "completed", run
    assert run["cancel_requested_at"] is None


UNDO_NOTE = """
name: undo-note
version: 1
steps:
  - name: note
    action: sample.create_note
    with: {contact_id: c-9, body: "Agreed."}
  - name: boom
    action: fail
    with: {code: conflict}
"""


def test_a_plugin_actions_own_compensation_undoes_it(runner, org, sample_plugin):
    upload(runner, org, UNDO_NOTE)
    run = ended(runner, org, start(runner, org, "undo-note"))
    assert run["status"] == "compensated", run
    undo = steps(run)["note.compensate"]
    assert undo["status"] == "completed" and undo["action"] == "undo:sample.create_note"
    assert undo["output"] == {
        "note_id": "note-for-c-9",
        "body": "Agreed.",
        "idempotency_key": f"{run['id']}.note",  # what the action gave, passed to its undo
        "deleted": True,
    }


def test_cancel_and_resume_refuse_what_they_cannot_do(runner, org):
    upload(runner, org, GO_ON.replace("name: go-on", "name: go-on-2"))
    user = make_user(runner, org)
    run_id = start(runner, org, "go-on-2", {"email": user["email"]})
    assert ended(runner, org, run_id)["status"] == "completed"
    for verb in ("cancel", "resume"):
        r = runner.post(f"/v1/workflow-runs/{run_id}/{verb}", org.token, json={})
        assert r.status_code == 409, r.text
        missing = runner.post(f"/v1/workflow-runs/run-nope/{verb}", org.token, json={})
        assert missing.status_code == 404


def test_upload_a_plugins_definition_and_show_it(runner, org, sample_plugin):
    env = {
        **credentials(runner.url, org.token),
        # the sample plugin, and the code under test (a worktree's, not the venv's install)
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "tests/plugins/sample"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    up = run_qylon("workflows", "upload", "--plugin", "sample.follow_up", "--json", env=env)
    assert up.code == 0, up.stderr
    assert up.json["data"]["name"] == "sample.follow_up"
    shown = run_qylon("workflows", "show", "sample.follow_up", "--json", env=env)
    assert shown.code == 0, shown.stderr
    text = (ROOT / "tests/plugins/sample/qylon_sample/workflows/follow_up.yaml").read_text()
    assert shown.json["data"]["text"] == text and shown.json["data"]["version"] == 1
    plain = run_qylon("workflows", "show", "sample.follow_up", env=env)
    assert "contact_id" in plain.stdout
    assert run_qylon("workflows", "show", "nope", env=env).code == 5
    assert run_qylon("workflows", "show", "sample.follow_up", "--version", "9", env=env).code == 5
    unknown = run_qylon("workflows", "upload", "--plugin", "sample.nope", env=env)
    assert unknown.code == 2 and "sample.follow_up" in unknown.stderr
    assert run_qylon("workflows", "upload", env=env).code == 2


ONBOARD = """
name: open-engagement
version: 1
input:
  email: {type: string, required: true}
  client: {type: string, required: true}
steps:
  - name: person
    action: users.create
    with: {email: "{{ input.email }}", given_name: Ana, role: member}
    compensate:
      action: users.deactivate
      with: {user_id: "{{ steps.person.output.id }}"}
  - name: team
    action: groups.add_member
    with: {group: Consultants, email: "{{ input.email }}"}
    compensate:
      action: groups.remove_member
      with: {group: Consultants, email: "{{ input.email }}"}
  - name: client
    action: clients.create
    with: {name: "{{ input.client }}", tags: [engagement]}
    compensate:
      action: clients.archive
      with: {client_id: "{{ steps.client.output.id }}"}
  - name: approve
    wait_for: {signal: approve, timeout: 1h}
"""


def test_server_operations_create_and_are_undone(runner, org):
    """users.create, groups.add_member and clients.create, then a cancel: each is undone
    by its counterpart (deactivate, remove_member, archive)."""
    upload(runner, org, ONBOARD)
    group = runner.post("/v1/groups", org.token, json={"name": "Consultants"})
    assert group.status_code == 201, group.text
    email = f"ana-{uuid.uuid4().hex[:6]}@example.com"
    run_id = start(runner, org, "open-engagement", {"email": email, "client": "Acme Rail"})
    run = until(runner, org, run_id, step_waiting("approve"))
    person, client = steps(run)["person"]["output"], steps(run)["client"]["output"]
    assert person["created"] and person["email"] == email and client["created"]
    members = runner.get(f"/v1/groups/{group.json()['id']}", org.token).json()["users"]
    assert email in [m["email"] for m in members]

    assert runner.post(f"/v1/workflow-runs/{run_id}/cancel", org.token, json={}).status_code == 202
    run = ended(runner, org, run_id)
    assert run["status"] == "cancelled", run
    assert user_status(runner, org, person["id"]) == "deactivated"
    members = runner.get(f"/v1/groups/{group.json()['id']}", org.token).json()["users"]
    assert email not in [m["email"] for m in members]
    assert runner.get(f"/v1/clients/{client['id']}", org.token).json()["status"] == "archived"

    # the client exists now: a second run finds it rather than making another
    again = start(runner, org, "open-engagement", {"email": email, "client": "acme rail"})
    run = until(runner, org, again, step_waiting("approve"))
    assert steps(run)["client"]["output"] == {**client, "status": "archived", "created": False}
    assert steps(run)["person"]["output"]["created"] is False
    # bad input fails the step, naming the field
    bad = ended(runner, org, start(runner, org, "open-engagement", {"email": "x", "client": "Y"}))
    error = steps(bad)["person"]["error"]
    assert (
        bad["status"] == "failed"
        and error["code"] == "invalid_input"
        and "email" in error["message"]
    )


def test_the_engine_stores_json_never_pickle(runner, org):
    """DBOS pickles by default; the server's engine writes portable JSON (inputs, step
    outputs and results), which other tools can read and nothing can smuggle code into."""
    import json

    from qylon_server.workflows import engine
    from sqlalchemy import text

    upload(runner, org, GO_ON.replace("name: go-on", "name: go-on-json"))
    user = make_user(runner, org)
    run_id = start(runner, org, "go-on-json", {"email": user["email"]})
    assert ended(runner, org, run_id)["status"] == "completed"
    with engine.database().engine.connect() as c:
        (inputs,) = c.execute(
            text("SELECT inputs FROM workflow_input WHERE workflow_uuid = :id"), {"id": run_id}
        ).one()
        outputs = c.execute(
            text("SELECT output FROM operation_outputs WHERE workflow_uuid = :id"), {"id": run_id}
        ).scalars()
        (result,) = c.execute(
            text("SELECT output FROM workflow_output WHERE workflow_uuid = :id"), {"id": run_id}
        ).one()
    assert json.loads(inputs)["positionalArgs"][0]["input"] == {"email": user["email"]}
    assert [json.loads(o) for o in outputs if o is not None]
    assert json.loads(result)["status"] == "completed"
