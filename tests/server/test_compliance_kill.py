"""SIGKILL on a real server (`qylon server start` in a subprocess, SQLite) while a
person's escalation waits between rungs: the wait is parked until an absolute time (the
due date + the rung's ``after``), which the restarted server keeps; the next rung's email
reaches the real SMTP server (aiosmtpd) exactly once, and with the Message-ID its run and
step give it (so a resend would carry the same one). Time moves by the ``clock`` signal."""

from __future__ import annotations

import signal
import time

import pytest

from .harness import Api, free_port, new_org, sqlite_backend
from .smtp_relay import Relay
from .test_compliance_escalation import POLICY
from .test_onboarding_e2e import _wait
from .workflow_support import _serve, _steps_when, _up, api_status, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("kill-compliance")]


def _to(relay, address: str) -> list:
    return [m for m in relay.messages if m["To"] == address]


def _tick(api, org, run_id: str) -> None:
    r = api.post(f"/v1/workflow-runs/{run_id}/signal/clock", org.token, json={"payload": None})
    assert r.status_code == 202, r.text


def test_the_next_rung_arrives_once_after_a_sigkill(tmp_path):
    relay = Relay().start()
    env = {
        "QYLON_SMTP_URL": relay.url,
        "QYLON_MAIL_FROM": "compliance@firm.example",
    }
    with sqlite_backend(tmp_path) as backend:
        org = new_org(backend, "Firm")
        port = free_port()
        api = Api(f"http://127.0.0.1:{port}", backend)
        proc = _serve(backend.url, port, **env)
        try:
            _up(api)
            r = api.post("/v1/compliance/policies", org.token, json={"text": POLICY})
            assert r.status_code == 201, r.text
            boss = api.post("/v1/users", org.token, json={"email": "boss@firm.example", "role": "manager"}).json()  # fmt: skip
            api.post("/v1/users", org.token, json={"email": "nia@firm.example", "manager_id": boss["id"]})  # fmt: skip
            r = api.post(
                "/v1/compliance/assignments",
                org.token,
                json={"policy": "quick-escalation", "users": ["nia@firm.example"]},
            )
            assert r.status_code == 200, r.text
            run_id = r.json()["assigned"][0]["run_id"]
            _tick(api, org, run_id)  # the person's rung
            _wait(lambda: _to(relay, "nia@firm.example"), "the person's reminder")

            def between(steps):  # the manager's rung: parked until its time
                return steps.get("wait_2", {}).get("status") == "sleeping" and steps["wait_2"].get(
                    "parked"
                )

            before, _ = _steps_when(api, org.token, run_id, between)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert api_status(backend, run_id) == "running"
            proc = _serve(backend.url, port, **env)
            _up(api)
            after, _ = _steps_when(api, org.token, run_id, between)
            assert after["wait_2"]["until"] == before["wait_2"]["until"]  # not shifted
            assert _to(relay, "boss@firm.example") == []
            _tick(api, org, run_id)
            (mail,) = _wait(lambda: _to(relay, "boss@firm.example"), "the manager's escalation")
            run = wait_for(api, org.token, run_id)
            assert run["status"] == "completed", run
            time.sleep(1.0)  # anything sent twice would be here by now
        finally:
            proc.terminate()
            proc.wait(20)
            api.http.close()
            relay.stop()
    assert mail["Message-ID"] == f"<{run_id}.manager_2@firm.example>"
    to_boss = _to(relay, "boss@firm.example")
    assert len(to_boss) == 1, [m["Message-ID"] for m in to_boss]
    assert len(_to(relay, "nia@firm.example")) == 1
    ids = [m["Message-ID"] for m in relay.messages]
    assert len(ids) == len(set(ids)) == 2
