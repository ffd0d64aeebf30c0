"""SIGKILL on a real server (`qylon server start` in a subprocess, SQLite and PostgreSQL as
the non-superuser role): during a retry's wait, a durable sleep and a compensation; after
the restart each run finishes and each change happens once."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import pytest

from .harness import START_S, Api, free_port, new_org, postgres_backend, sqlite_backend
from .workflow_support import _audit_actions, _serve, _steps_when, _up, api_status, wait_for

ROOT = Path(__file__).resolve().parents[2]


RETRIED = """
name: killed-mid-run
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
    with: {code: conflict}
    retry: {max_attempts: 2, initial_interval: 3s, retry_on: [conflict]}
"""


@pytest.mark.slow
@pytest.mark.xdist_group("kill-retry")  # its own servers: no need to queue behind "workflows"
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_run_survives_a_sigkill_and_finishes_once(engine, tmp_path):
    """The server is killed while a step waits to be retried; started again under the same
    executor id, it resumes the run from its checkpoints: the steps done are not done again.
    (PostgreSQL: the server connects as the non-superuser role, under row-level security.)"""
    made = sqlite_backend(tmp_path) if engine == "sqlite" else postgres_backend()
    with made as backend:
        org = new_org(backend)
        port = free_port()
        api = Api(f"http://127.0.0.1:{port}", backend)
        proc = _serve(backend.url, port)
        try:
            _up(api)
            email = f"killed-{secrets.token_hex(3)}@acme.example"
            user = api.post("/v1/users", org.token, json={"email": email}).json()
            assert api.post("/v1/workflows", org.token, json={"text": RETRIED}).status_code == 201
            started = api.post(
                "/v1/workflows/killed-mid-run/runs", org.token, json={"input": {"email": email}}
            )
            run_id = started.json()["id"]
            deadline = time.monotonic() + START_S
            while True:  # the first attempt of boom has failed: DBOS waits 3s to retry
                steps = {
                    s["name"]: s
                    for s in api.get(f"/v1/workflow-runs/{run_id}", org.token).json()["steps"]
                }
                if steps.get("boom", {}).get("attempts") == 1:
                    break
                assert time.monotonic() < deadline, steps
                time.sleep(0.1)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert api_status(backend, run_id) == "running"
            proc = _serve(backend.url, port)
            _up(api)
            run = wait_for(api, org.token, run_id)
        finally:
            proc.terminate()
            proc.wait(20)
            api.http.close()
        assert run["status"] == "compensated", run
        steps = {s["name"]: s for s in run["steps"]}
        assert steps["deactivate"]["attempts"] == 1 and steps["tell"]["attempts"] == 1
        assert steps["boom"]["attempts"] >= 2
        assert steps["deactivate.compensate"]["status"] == "completed"
        actions = _audit_actions(backend, org.id)
        assert actions.count("user.deactivate") == 1
        assert actions.count("workflow.notify") == 1
        assert actions.count("user.reactivate") == 1
        assert user["id"]


KILLED_TWICE = """
name: killed-twice
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
  - name: tell
    action: notify
    with: {to: "boss@example.com", subject: "{{ input.email }} leaves"}
    compensate:
      action: sample.slow
      with: {seconds: 4}
  - name: nap
    sleep: 8s
  - name: boom
    action: fail
    with: {code: conflict}
"""


@pytest.mark.slow
@pytest.mark.xdist_group("kill-sleep")  # its own servers: no need to queue behind "workflows"
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_kills_during_a_sleep_and_a_compensation_lose_nothing(engine, tmp_path):
    """Killed during a durable sleep, the server sleeps only what was left after its
    restart (the deadline counts from the first start); killed again during a
    compensation, it runs that compensation again and the rest once: every change
    happens once and the run ends compensated."""
    made = sqlite_backend(tmp_path) if engine == "sqlite" else postgres_backend()
    env = {
        # the sample plugin, and the code under test (a worktree's, not the venv's install)
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "tests/plugins/sample"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "QYLON_LOAD_PLUGINS": "agent,server,admin,sample",
    }
    with made as backend:
        org = new_org(backend)
        port = free_port()
        api = Api(f"http://127.0.0.1:{port}", backend)
        proc = _serve(backend.url, port, **env)
        try:
            _up(api)
            email = f"twice-{secrets.token_hex(3)}@acme.example"
            assert api.post("/v1/users", org.token, json={"email": email}).status_code == 201
            upload = api.post("/v1/workflows", org.token, json={"text": KILLED_TWICE})
            assert upload.status_code == 201, upload.text
            started = api.post(
                "/v1/workflows/killed-twice/runs", org.token, json={"input": {"email": email}}
            )
            run_id = started.json()["id"]
            _, slept = _steps_when(
                api, org.token, run_id, lambda s: s.get("nap", {}).get("status") == "sleeping"
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = _serve(backend.url, port, **env)
            _up(api)
            restarted = time.monotonic()
            _, failed = _steps_when(
                api, org.token, run_id, lambda s: s.get("boom", {}).get("status") == "failed"
            )
            # the 8 s began before the kill: not 8 s again after the restart
            assert failed - restarted < 8, (failed - slept, failed - restarted)
            time.sleep(1.5)  # inside tell.compensate (4 s)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = _serve(backend.url, port, **env)
            _up(api)
            run = wait_for(api, org.token, run_id)
        finally:
            proc.terminate()
            proc.wait(20)
            api.http.close()
        assert run["status"] == "compensated", run
        steps = {s["name"]: s for s in run["steps"]}
        assert steps["tell.compensate"]["status"] == "completed"
        assert steps["deactivate.compensate"]["status"] == "completed"
        actions = _audit_actions(backend, org.id)
        assert actions.count("user.deactivate") == 1
        assert actions.count("workflow.notify") == 1
        assert actions.count("user.reactivate") == 1
