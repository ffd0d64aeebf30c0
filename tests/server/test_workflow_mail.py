"""The `email.send` action against a real SMTP server (aiosmtpd): one message per step
with a stable Message-ID, retried on a temporary refusal, and the documented duplicate
(same Message-ID) when the server is killed between the relay's acceptance and DBOS's
checkpoint."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from .harness import START_S, Api, free_port, new_org, running, sqlite_backend
from .smtp_relay import Relay, serving
from .workflow_support import wait_for

pytestmark = pytest.mark.xdist_group("workflows")

MAIL = """
name: welcome-mail
version: 1
input:
  email: {type: string, required: true}
steps:
  - name: welcome
    action: email.send
    with:
      to: "{{ input.email }}"
      subject: "Welcome, {{ input.email }}"
      text: "Your first day is Monday."
    retry: {max_attempts: 3, initial_interval: 1s}
"""


@pytest.fixture
def relay():
    """The module's server shares the suite's SQLite database, so it also runs what other
    tests left queued or parked there, and their mail arrives here too: a test reads only
    its own runs' messages (``Relay.of``, ``Relay.seen_of``)."""
    with serving() as relay:
        yield relay


@pytest.fixture(scope="module")
def mail_runner(team_servers):
    """A server running workflows whose relay is set per test (``engine.EngineState``)."""
    backend = team_servers.backend("sqlite")
    with running(
        backend,
        workflow_executor=f"mail-{uuid.uuid4().hex[:8]}",
        mail_from="onboarding@firm.example",
        smtp_url="smtp://127.0.0.1:9",
    ) as server:
        api = Api(server.url, backend)
        yield api
        api.http.close()


def _use(relay) -> None:
    from qylon_server.workflows import engine

    engine.EngineState.settings = engine.EngineState.settings.model_copy(
        update={"smtp_url": relay.url}
    )


def _start(api, org, email: str, name: str = "welcome-mail") -> str:
    r = api.post(f"/v1/workflows/{name}/runs", org.token, json={"input": {"email": email}})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_a_step_sends_one_message_with_a_stable_message_id(mail_runner, team_servers, relay):
    api, org = mail_runner, new_org(team_servers.backend("sqlite"))
    _use(relay)
    hire = f"hire-{uuid.uuid4().hex[:8]}@firm.example"
    relay.refuse, relay.refuse_to = 1, hire  # the first attempt is refused for now (451): retried
    assert api.post("/v1/workflows", org.token, json={"text": MAIL}).status_code == 201
    run = wait_for(api, org.token, _start(api, org, hire))
    assert run["status"] == "completed", run
    (step,) = run["steps"]
    assert step["attempts"] == 2
    (msg,) = relay.of(run["id"])
    expected = f"<{run['id']}.welcome@firm.example>"
    assert msg["Message-ID"] == expected and relay.seen_of(run["id"]) == [expected, expected]
    assert msg["From"] == "onboarding@firm.example" and msg["To"] == hire
    assert msg["Subject"] == f"Welcome, {hire}"
    assert msg.get_payload().strip() == "Your first day is Monday."
    assert step["output"] == {
        "message_id": expected,
        "to": [hire],
        "refused": [],
    }


def test_bad_addresses_and_headers_fail_the_step_and_send_nothing(mail_runner, team_servers, relay):
    api, org = mail_runner, new_org(team_servers.backend("sqlite"))
    _use(relay)
    text = MAIL.replace("welcome-mail", "bad-mail")
    assert api.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
    first = wait_for(api, org.token, _start(api, org, "not an address", "bad-mail"))
    assert first["status"] == "failed" and first["steps"][0]["error"]["code"] == "invalid_input"
    run = wait_for(
        api, org.token, _start(api, org, "a@b.example\nBcc: all@firm.example", "bad-mail")
    )
    assert run["status"] == "failed" and run["steps"][0]["error"]["code"] == "invalid_input"
    assert relay.seen_of(first["id"], run["id"]) == []


def test_without_a_relay_the_step_says_what_to_set(mail_runner, monkeypatch):
    from qylon_server.workflows import engine, mail
    from qylon_server.workflows.actions import ActionError

    monkeypatch.setattr(
        engine.EngineState,
        "settings",
        engine.EngineState.settings.model_copy(update={"smtp_url": None}),
    )
    ctx = SimpleNamespace(run_id="run-1", step="welcome", remaining=lambda cap: cap)
    with pytest.raises(ActionError, match="QYLON_SMTP_URL") as caught:
        mail.send(ctx, {"to": "a@b.example", "subject": "Hi", "text": "Hello"})
    assert caught.value.code == "not_configured"


@pytest.mark.slow
@pytest.mark.xdist_group("kill-mail")  # its own server: no need to queue behind "workflows"
def test_a_kill_between_acceptance_and_checkpoint_sends_a_copy_with_the_same_id(tmp_path):
    """The relay accepts the message and the server dies before DBOS checkpoints the step:
    started again under its executor id, the server sends the message once more, with
    the same Message-ID (SMTP cannot be exactly once; docs/workflows.md says so)."""
    from .workflow_support import _serve, _up

    procs: list = []

    def kill_first(_msg) -> None:
        if len(relay.messages) == 1:
            os.kill(procs[-1].pid, signal.SIGKILL)

    with sqlite_backend(tmp_path) as backend, serving(Relay(on_data=kill_first)) as relay:
        org = new_org(backend)
        port = free_port()
        api = Api(f"http://127.0.0.1:{port}", backend)
        env = {"QYLON_SMTP_URL": relay.url}
        env["QYLON_MAIL_FROM"] = "onboarding@firm.example"
        try:
            procs.append(_serve(backend.url, port, **env))
            _up(api)
            assert api.post("/v1/workflows", org.token, json={"text": MAIL}).status_code == 201
            run_id = _start(api, org, "new.hire@firm.example")
            procs[-1].wait(30)  # killed by the relay as the message arrived
            procs.append(_serve(backend.url, port, **env))
            _up(api)
            run = wait_for(api, org.token, run_id, timeout=60)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(20)
            api.http.close()
        assert run["status"] == "completed", run
        ids = [m["Message-ID"] for m in relay.messages]
        assert ids == [f"<{run_id}.welcome@firm.example>"] * 2


def test_the_shipped_onboarding_runs_end_to_end(mail_runner, team_servers, relay):
    """config/workflows/onboard-consultant.yaml: the account, the group, the welcome mail,
    the week's sleep (ended early by the `clock` signal) and the manager's reminder; the
    run is found by its subject, the new consultant's email."""
    from pathlib import Path

    from ..conftest import credentials, run_qylon

    api, org = mail_runner, new_org(team_servers.backend("sqlite"))
    _use(relay)
    text = (Path(__file__).parents[2] / "config/workflows/onboard-consultant.yaml").read_text()
    assert api.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
    assert api.post("/v1/groups", org.token, json={"name": "Consultants"}).status_code == 201
    boss = api.post("/v1/users", org.token, json={"email": "boss@firm.example", "role": "manager"})
    assert boss.status_code == 201, boss.text
    inputs = {
        "email": "new.hire@firm.example",
        "name": "Nia Hire",
        "manager": "boss@firm.example",
        "group": "Consultants",
    }
    r = api.post("/v1/workflows/onboard-consultant/runs", org.token, json={"input": inputs})
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    assert r.json()["subject"] == "new.hire@firm.example"
    deadline = time.monotonic() + START_S
    while True:
        run = api.get(f"/v1/workflow-runs/{run_id}", org.token).json()
        first_week = {s["name"]: s for s in run["steps"]}.get("first_week", {})
        if first_week.get("status") == "sleeping":
            break
        assert run["status"] in ("enqueued", "running") and time.monotonic() < deadline, run
        time.sleep(0.1)
    (welcome,) = relay.of(run_id)
    assert welcome["To"] == "new.hire@firm.example" and "Nia Hire" in welcome["Subject"]
    assert "boss@firm.example will check in" in welcome.get_payload()
    env = credentials(str(api.http.base_url).rstrip("/"), org.token)
    assert run_qylon("workflows", "signal", run_id, "clock", env=env).code == 0
    run = wait_for(api, org.token, run_id)
    assert run["status"] == "completed", run
    listed = api.get("/v1/users", org.token, params={"q": "new.hire"}).json()["items"]
    (person,) = [u for u in listed if u["email"] == "new.hire@firm.example"]
    assert person["display_name"] == "Nia Hire" and person["groups"] == ["Consultants"]
    assert person["manager_id"] == boss.json()["id"]
    found = run_qylon("workflows", "runs", "--subject", "new.hire@firm.example", "--json", env=env)
    assert [r["id"] for r in found.json["data"]["items"]] == [run_id]


def test_the_shipped_meeting_follow_up_runs_end_to_end(mail_runner, team_servers, relay):
    """config/workflows/meeting-follow-up.yaml: the meeting read from the server, the
    approval signal, the summary mailed to the attendees who are users, the note posted
    to a CRM webhook (a loopback HTTP server, with the step's Idempotency-Key), and after
    the two days (ended by `clock`) the owners of open items reminded."""
    import json as jsonlib
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    from qylon_server.workflows import engine

    api, org = mail_runner, new_org(team_servers.backend("sqlite"))
    _use(relay)
    posted: list = []

    class Crm(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posted.append((self.headers["Idempotency-Key"], jsonlib.loads(body)))
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"id": "note-1"}')

    crm = ThreadingHTTPServer(("127.0.0.1", free_port()), Crm)
    # shutdown() waits for one poll of serve_forever: 0.5 s by default
    threading.Thread(target=crm.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    settings = engine.EngineState.settings
    engine.EngineState.settings = settings.model_copy(
        update={"workflow_http_allow": f"127.0.0.1:{crm.server_port}"}
    )
    try:
        for email, name in (("ana@firm.example", "Ana Lima"), ("bo@firm.example", "Bo Chen")):
            r = api.post("/v1/users", org.token, json={"email": email, "display_name": name})
            assert r.status_code == 201, r.text
        meeting_id = str(uuid.uuid4())
        body = {
            "id": meeting_id,
            "title": "Acme kickoff",
            "created_at": "2026-12-01T10:00:00Z",
            "duration_s": 60.0,
            "summary": "We agreed the scope.",
            "speakers": [
                {"id": "S1", "name": "Ana Lima", "talk_time_s": 30.0},
                {"id": "S2", "name": "Guest", "talk_time_s": 30.0},
            ],
            "segments": [{"start": 0.0, "end": 2.0, "speaker": "S1", "text": "Hi."}],
            "action_items": [{"id": "a1", "owner": "Bo Chen", "task": "Send the plan"}],
        }
        assert api.put(f"/v1/meetings/{meeting_id}", org.token, json=body).status_code == 201
        text = (Path(__file__).parents[2] / "config/workflows/meeting-follow-up.yaml").read_text()
        assert api.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
        inputs = {"meeting_id": meeting_id, "crm_webhook": f"http://127.0.0.1:{crm.server_port}/n"}
        r = api.post("/v1/workflows/meeting-follow-up/runs", org.token, json={"input": inputs})
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]

        def step(name):
            run = api.get(f"/v1/workflow-runs/{run_id}", org.token).json()
            return {s["name"]: s for s in run["steps"]}.get(name, {}).get("status")

        def until(name, status):
            deadline = time.monotonic() + START_S
            while step(name) != status:
                assert time.monotonic() < deadline, (name, step(name))
                time.sleep(0.1)

        until("approval", "waiting")
        signal = {"payload": {"approved": True, "summary": "Scope agreed; plan by Friday."}}
        sent = api.post(
            f"/v1/workflow-runs/{run_id}/signals/summary_approved", org.token, json=signal
        )
        assert sent.status_code == 202, sent.text
        until("wait_two_days", "sleeping")
        assert (
            api.post(f"/v1/workflow-runs/{run_id}/signals/clock", org.token, json={}).status_code
            == 202
        )
        run = wait_for(api, org.token, run_id)
    finally:
        engine.EngineState.settings = settings
        crm.shutdown()
    assert run["status"] == "completed", run
    (mail,) = relay.of(run_id)
    assert mail["To"] == "ana@firm.example" and mail["Subject"] == "Follow-up: Acme kickoff"
    assert mail.get_payload().strip() == "Scope agreed; plan by Friday."
    ((key, note),) = posted
    assert key == f"{run_id}.crm_note"
    assert note == {
        "meeting": meeting_id,
        "title": "Acme kickoff",
        "summary": "Scope agreed; plan by Friday.",
    }
    audit = api.get("/v1/audit-events", org.token, params={"limit": 50}).json()["items"]
    (reminder,) = [e for e in audit if e["action"] == "workflow.notify"]
    assert reminder["detail"]["to"] == "bo@firm.example"
