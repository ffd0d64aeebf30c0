"""Durable workflows on the team server (DBOS): definitions uploaded over the API, runs
started over the API and executed by a server process with a workflow executor.

DBOS is one per process, so one server in this module runs workflows (SQLite); the
shared servers only enqueue."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from pathlib import Path

import pytest

from ..conftest import credentials, run_qylon
from .harness import Api, new_org, running
from .workflow_support import wait_for

# one process launches DBOS for the module's tests (parallel runs: one xdist worker)
pytestmark = pytest.mark.xdist_group("workflows")

ROOT = Path(__file__).resolve().parents[2]
OFFBOARD = (ROOT / "config/workflows/offboard-consultant.yaml").read_text()

FAILING = """
name: fail-third
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
    compensate:
      action: notify
      with: {to: "boss@example.com", subject: "{{ input.email }} stays after all"}
  - name: boom
    action: fail
    with: {code: conflict, message: "the third step fails"}
"""


@pytest.fixture(scope="module")
def runner(team_servers):
    backend = team_servers.backend("sqlite")
    with running(backend, workflow_executor=f"test-{uuid.uuid4().hex[:8]}") as server:
        api = Api(server.url, backend)
        api.url = server.url
        yield api
        api.http.close()


def meeting(owner_name: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "title": "Weekly sync",
        "created_at": "2026-11-20T10:00:00Z",
        "duration_s": 60.0,
        "speakers": [{"id": "SPEAKER_1", "name": "Ana", "talk_time_s": 30.0}],
        "segments": [{"start": 0.0, "end": 2.5, "speaker": "SPEAKER_1", "text": "Hi."}],
        "action_items": [
            {"id": "a1", "owner": owner_name, "task": "Send the proposal", "status": "open"},
            {"id": "a2", "owner": owner_name, "task": "Old thing", "status": "done"},
            {"id": "a3", "owner": "someone else", "task": "Other", "status": "open"},
        ],
    }


def test_offboard_consultant_end_to_end(runner, team_servers):
    api, org = runner, new_org(team_servers.backend("sqlite"))
    owner = org.token
    manager = api.post("/v1/users", owner, json={"email": "boss@acme.example", "role": "manager"})
    assert manager.status_code == 201, manager.text
    leaver_email = f"leaver-{secrets.token_hex(3)}@acme.example"
    leaver = api.post(
        "/v1/users",
        owner,
        json={"email": leaver_email, "role": "member", "manager_email": "boss@acme.example"},
    ).json()
    key = api.post(
        "/v1/api-keys", owner, json={"name": "k", "scopes": ["read"], "user_id": leaver["id"]}
    )
    assert key.status_code == 201, key.text
    m = meeting(leaver_email)
    assert api.put(f"/v1/meetings/{m['id']}", owner, json=m).status_code == 201

    up = api.post("/v1/workflows", owner, json={"text": OFFBOARD})
    assert up.status_code == 201, up.text
    assert api.post("/v1/workflows", owner, json={"text": OFFBOARD}).status_code == 200
    headers = {"Idempotency-Key": f"offboard-{secrets.token_hex(6)}"}
    started = api.post(
        "/v1/workflows/offboard-consultant/runs",
        owner,
        json={"input": {"email": leaver_email}},
        headers=headers,
    )
    assert started.status_code == 202, started.text
    again = api.post(
        "/v1/workflows/offboard-consultant/runs",
        owner,
        json={"input": {"email": leaver_email}},
        headers=headers,
    )
    assert again.status_code == 200 and again.json()["id"] == started.json()["id"]

    run = wait_for(api, owner, started.json()["id"])
    assert run["status"] == "completed", run
    assert run["engine"]["status"] == "SUCCESS"
    from qylon_server.workflows import engine

    assert run["engine"]["app_version"] == engine.APP_VERSION
    steps = {s["name"]: s for s in run["steps"]}
    assert [s["name"] for s in run["steps"]] == [
        "deactivate",
        "revoke_keys",
        "reassign_items",
        "notify_manager",
    ]
    assert all(s["status"] == "completed" and s["attempts"] == 1 for s in run["steps"])
    # the run's start and end commit with its first and last steps: no calls of their own
    from dbos import DBOS

    durable = [s["function_name"] for s in DBOS.list_workflow_steps(run["id"])]
    assert durable == ["deactivate", "revoke_keys", "reassign_items", "notify_manager"]
    assert run["finished_at"] is not None and run["error"] is None
    assert run["created_at"] <= run["updated_at"]
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["revoke_keys"]["output"]["count"] == 1
    assert steps["reassign_items"]["output"] == {"count": 1, "to": "boss@acme.example"}

    assert api.get(f"/v1/users/{leaver['id']}", owner).json()["status"] == "deactivated"
    assert api.get("/v1/me", key.json()["token"]).status_code == 401
    revoked = api.get(f"/v1/api-keys/{key.json()['id']}", owner).json()
    assert revoked["revoked_at"] is not None
    items = api.get("/v1/action-items", owner, params={"meeting_id": m["id"]}).json()["items"]
    owners = {i["id"]: i["owner"] for i in items}
    assert owners == {"a1": "boss@acme.example", "a2": leaver_email, "a3": "someone else"}
    events = api.get("/v1/audit-events", owner, params={"limit": 200}).json()["items"]
    (deactivated,) = [e for e in events if e["action"] == "user.deactivate"]
    assert deactivated["detail"]["run_id"] == run["id"]
    assert deactivated["detail"]["step"] == "deactivate"
    assert deactivated["actor_user_id"] == org.owner_id
    notes = [e for e in events if e["action"] == "workflow.notify"]
    assert len(notes) == 1 and notes[0]["detail"]["to"] == "boss@acme.example"
    assert "1 API key(s) were revoked" in notes[0]["detail"]["text"]
    listed = api.get("/v1/workflow-runs", owner, params={"status": "completed"}).json()
    assert [r["id"] for r in listed["items"]] == [run["id"]] and listed["total"] == 1


def test_offboarding_with_a_mistyped_manager_is_undone_and_its_history_tells_it(
    runner, team_servers
):
    """config/workflows/offboard-consultant.yaml, its third step failing for good (the items
    would go to nobody): the deactivation is undone, the run ends compensated, and
    `qylon workflows history` tells the story in order, the user's events included."""
    api, org = runner, new_org(team_servers.backend("sqlite"))
    owner = org.token
    email = f"leaver-{secrets.token_hex(3)}@acme.example"
    leaver = api.post("/v1/users", owner, json={"email": email, "role": "member"}).json()
    assert api.post("/v1/workflows", owner, json={"text": OFFBOARD}).status_code == 201
    started = api.post(
        "/v1/workflows/offboard-consultant/runs",
        owner,
        json={"input": {"email": email, "manager": "bos@acme.example"}},
    )
    assert started.status_code == 202, started.text
    run = wait_for(api, owner, started.json()["id"])
    assert run["status"] == "compensated", run
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["reassign_items"]["error"]["code"] == "not_found"
    assert steps["reassign_items"]["attempts"] == 1  # not_found is not in its retry_on
    assert api.get(f"/v1/users/{leaver['id']}", owner).json()["status"] == "active"

    env = credentials(api.url, owner)
    told = run_qylon("workflows", "history", run["id"], "--json", env=env)
    assert told.code == 0, told.stderr
    story = [(e["type"], (e.get("data") or {}).get("step")) for e in told.json["data"]["items"]]
    assert story == [
        ("workflow_run.enqueued", None),
        ("workflow_run.started", None),
        ("workflow_run.deadline_set", None),  # timeout: 1h
        ("user.deactivated", None),
        ("workflow_run.step_completed", "deactivate"),
        ("workflow_run.step_completed", "revoke_keys"),
        ("workflow_run.step_attempted", "reassign_items"),
        ("user.reactivated", None),
        ("workflow_run.step_compensated", "deactivate.compensate"),
        ("workflow_run.finished", None),
    ], story
    plain = run_qylon("workflows", "history", run["id"], env=env)
    assert "user.reactivated" in plain.stdout and "compensated" in plain.stdout


def test_a_failing_third_step_compensates_in_reverse(runner, team_servers):
    api, org = runner, new_org(team_servers.backend("sqlite"))
    owner = org.token
    email = f"stays-{secrets.token_hex(3)}@acme.example"
    user = api.post("/v1/users", owner, json={"email": email}).json()
    assert api.post("/v1/workflows", owner, json={"text": FAILING}).status_code == 201
    started = api.post("/v1/workflows/fail-third/runs", owner, json={"input": {"email": email}})
    assert started.status_code == 202, started.text
    run = wait_for(api, owner, started.json()["id"])
    assert run["status"] == "compensated", run
    assert run["error"].startswith("boom: conflict")
    order = [(s["name"], s["status"]) for s in run["steps"]]
    assert order == [
        ("deactivate", "completed"),
        ("tell", "completed"),
        ("boom", "failed"),
        ("tell.compensate", "completed"),
        ("deactivate.compensate", "completed"),
    ]
    assert api.get(f"/v1/users/{user['id']}", owner).json()["status"] == "active"
    # the interpreter's durable calls, in order: changing this order needs a new
    # engine.APP_VERSION (runs in progress replay by position), or a new "order" in the
    # runs' payload (runs enqueued before keep theirs). Order 2: no start call.
    from dbos import DBOS
    from qylon_server.workflows import engine

    assert engine.APP_VERSION == "qylon-interpreter-2"
    assert DBOS.get_workflow_status(run["id"]).app_version == engine.APP_VERSION
    durable = [s["function_name"] for s in DBOS.list_workflow_steps(run["id"])]
    assert durable == [
        "deactivate",
        "tell",
        "boom",
        "tell.compensate",
        "deactivate.compensate",
        "finish",
    ]
    events = api.get("/v1/audit-events", owner, params={"limit": 200}).json()["items"]
    actions = [e["action"] for e in sorted(events, key=lambda e: e["id"])]
    tail = [a for a in actions if a in ("user.deactivate", "workflow.notify", "user.reactivate")]
    assert tail == ["user.deactivate", "workflow.notify", "workflow.notify", "user.reactivate"]


def test_bad_definitions_and_inputs_are_refused(runner, team_servers):
    api, org = runner, new_org(team_servers.backend("sqlite"))
    owner = org.token
    bad = api.post("/v1/workflows", owner, json={"text": "name: x\nversion: 0\nsteps: []\n"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "workflow_invalid"
    unknown = FAILING.replace("action: fail", "action: nope.nothing")
    r = api.post("/v1/workflows", owner, json={"text": unknown})
    assert r.status_code == 422 and "nope.nothing" in r.json()["error"]["message"]
    assert api.post("/v1/workflows", owner, json={"text": FAILING}).status_code == 201
    changed = FAILING.replace("the third step fails", "changed")
    assert api.post("/v1/workflows", owner, json={"text": changed}).status_code == 409
    r = api.post("/v1/workflows/fail-third/runs", owner, json={"input": {}})
    assert r.status_code == 422
    r = api.post("/v1/workflows/nothing-here/runs", owner, json={"input": {}})
    assert r.status_code == 404


def test_the_cli_uploads_runs_and_follows(runner, team_servers):
    api, org = runner, new_org(team_servers.backend("sqlite"))
    env = credentials(api.url, org.token)
    email = f"cli-{secrets.token_hex(3)}@acme.example"
    api.post("/v1/users", org.token, json={"email": email})
    path = ROOT / "config/workflows/offboard-consultant.yaml"
    up = run_qylon("workflows", "upload", str(path), "--json", env=env)
    assert up.code == 0, up.stderr
    assert up.json["data"]["name"] == "offboard-consultant"
    listed = run_qylon("workflows", "list", "--json", env=env)
    assert [i["version"] for i in listed.json["data"]["items"]] == [1]
    done = run_qylon(
        "workflows",
        "run",
        "offboard-consultant",
        "--input",
        json.dumps({"email": email}),
        "--wait",
        "--json",
        env=env,
    )
    assert done.code == 0, done.stderr
    run = done.json["data"]
    assert run["status"] == "completed"
    shown = run_qylon("workflows", "status", run["id"], env=env)
    assert shown.code == 0 and "deactivate: completed" in shown.stdout
    assert "notify_manager: skipped" in shown.stdout  # no manager: the `if` is false
    runs = run_qylon("workflows", "runs", "--status", "completed", "--json", env=env)
    assert [r["id"] for r in runs.json["data"]["items"]] == [run["id"]]
    bad = run_qylon("workflows", "run", "offboard-consultant", "--input", "[1]", env=env)
    assert bad.code == 3
    missing = run_qylon("workflows", "status", "run-nope", "--json", env=env)
    assert missing.code == 5 and missing.json["error"]["code"] == "not_found"


def test_a_plugins_action_runs_in_a_step(runner, team_servers, monkeypatch):
    """The test plugin's action (``register_actions``) and its shipped definition."""
    from qylon_cli import plugins

    from ..conftest import TEST_PLUGINS

    monkeypatch.syspath_prepend(str(ROOT / "tests/plugins/sample"))
    monkeypatch.setenv("QYLON_LOAD_PLUGINS", f"{TEST_PLUGINS},sample")
    plugins.reset()
    api, org = runner, new_org(team_servers.backend("sqlite"))
    text = plugins.workflow_text("sample.follow_up")
    assert api.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
    started = api.post(
        "/v1/workflows/sample.follow_up/runs",
        org.token,
        json={"input": {"contact_id": "c-1", "summary": "We agreed the scope."}},
    )
    assert started.status_code == 202, started.text
    run = wait_for(api, org.token, started.json()["id"])
    assert run["status"] == "completed", run
    assert run["steps"][0]["output"] == {
        "note_id": "note-for-c-1",
        "body": "We agreed the scope.",
        "idempotency_key": f"{run['id']}.note",  # the StepContext a plugin asks for
    }


RETRY_ON = """
name: retry-on-{code}
version: 1
steps:
  - name: boom
    action: fail
    with: {{code: {code}}}
    retry: {{max_attempts: 2, initial_interval: 1s, retry_on: [unavailable]}}
"""


@pytest.mark.parametrize(("code", "attempts"), [("unavailable", 2), ("conflict", 1)])
def test_retry_on_retries_only_the_codes_it_names(runner, team_servers, code, attempts):
    api, org = runner, new_org(team_servers.backend("sqlite"))
    text = RETRY_ON.format(code=code)
    assert api.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
    started = api.post(f"/v1/workflows/retry-on-{code}/runs", org.token, json={"input": {}})
    run = wait_for(api, org.token, started.json()["id"])
    assert run["status"] == "failed", run  # nothing before it to undo
    (step,) = run["steps"]
    assert step["status"] == "failed" and step["attempts"] == attempts
    assert step["error"]["code"] == code


def test_one_engine_per_process(runner, tmp_path):
    """DBOS is a process singleton: a second database (or executor id) is refused, not
    silently served by the first engine."""
    from qylon_server.db import Database
    from qylon_server.workflows import engine

    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with pytest.raises(RuntimeError, match="one engine per process"):
            engine.launch(other, "another")
    finally:
        other.dispose()


WAITS = """
name: waits
version: 1
steps:
  - name: nap
    sleep: 1s
  - name: approve
    wait_for: {signal: approve, timeout: 1h}
  - name: tell
    action: notify
    with: {to: "boss@example.com", subject: "approved by {{ steps.approve.output.by }}"}
  - name: second
    wait_for: {signal: again, timeout: 1s}
"""


def test_sleep_and_wait_for_a_signal(runner, team_servers):
    api, org = runner, new_org(team_servers.backend("sqlite"))
    assert api.post("/v1/workflows", org.token, json={"text": WAITS}).status_code == 201
    run_id = api.post("/v1/workflows/waits/runs", org.token, json={"input": {}}).json()["id"]
    deadline = time.monotonic() + 30
    while True:
        steps = {
            s["name"]: s for s in api.get(f"/v1/workflow-runs/{run_id}", org.token).json()["steps"]
        }
        if steps.get("approve", {}).get("status") == "waiting":
            break
        assert time.monotonic() < deadline, steps
        time.sleep(0.1)
    assert steps["nap"]["status"] == "completed"
    sent = run_qylon(
        "workflows",
        "signal",
        run_id,
        "approve",
        "--payload",
        '{"by": "Ana"}',
        "--json",
        env=credentials(api.url, org.token),
    )
    assert sent.code == 0 and sent.json["data"]["id"] == run_id, sent.stderr
    run = wait_for(api, org.token, run_id)
    assert run["status"] == "failed", run  # `second` waited 1s for a signal nobody sent
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["approve"]["output"] == {"by": "Ana"}
    assert steps["second"]["status"] == "failed" and steps["second"]["error"]["code"] == "timeout"
    events = api.get("/v1/audit-events", org.token, params={"limit": 50}).json()["items"]
    (note,) = [e for e in events if e["action"] == "workflow.notify"]
    assert note["detail"]["subject"] == "approved by Ana"
    missing = api.post("/v1/workflow-runs/run-nope/signal/approve", org.token, json={})
    assert missing.status_code == 404


def test_what_the_loader_accepts_the_renderer_compiles():
    """The host checks templates without Jinja2; every expression of the shipped
    definitions must compile in the sandbox the server renders them in."""
    from qylon_server.workflows.templates import _env

    from qylon_cli import workflow_defs, workflow_templates

    shipped = sorted((Path(__file__).parents[2] / "config" / "workflows").glob("*.yaml"))
    assert shipped
    compiled = 0
    for path in shipped:
        definition = workflow_defs.load(path.read_text("utf-8"), str(path))
        for step in definition.steps:
            doc = step.model_dump(mode="json", by_alias=True, exclude_none=True)
            for _, text in workflow_templates.strings(doc):
                for expression in workflow_templates.placeholders(text):
                    _env().compile_expression(expression)
                    compiled += 1
            if step.if_:
                _env().compile_expression(step.if_)
                compiled += 1
    assert compiled >= 10
