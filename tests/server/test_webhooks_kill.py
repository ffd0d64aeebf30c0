"""SIGKILL on a real server (`qylon server start` in a subprocess) while it waits for a
webhook receiver's answer: started again, it sends the delivery again with the same
webhook-id, and the receiver, deduplicating on it, accepts exactly one."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from .harness import START_S, Api, free_port, new_org, postgres_backend, sqlite_backend
from .webhook_receiver import Receiver
from .workflow_support import _serve, _up


@pytest.mark.slow  # two server starts in subprocesses and a recovery: ~25 s here
@pytest.mark.xdist_group("kill-webhook")
@pytest.mark.timeout(180)
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_server_killed_during_a_delivery_delivers_it_once_after_the_restart(engine, tmp_path):
    made = sqlite_backend(tmp_path) if engine == "sqlite" else postgres_backend()
    receiver = Receiver()
    with made as backend:
        org = new_org(backend)
        port = free_port()
        api = Api(f"http://127.0.0.1:{port}", backend)
        allow = {"QYLON_WEBHOOK_ALLOW": "127.0.0.1"}
        proc = _serve(backend.url, port, **allow)
        try:
            _up(api)
            path, held = "/kill", threading.Event()
            receiver.hold[path] = held  # the first request waits for an answer that never comes
            hook = api.post(
                "/v1/webhooks",
                org.token,
                json={"url": receiver.url(path), "event_types": ["client.created"]},
            ).json()
            receiver.secrets[path] = hook["secret"]
            assert api.post("/v1/clients", org.token, json={"name": "Acme"}).status_code == 201
            (first,) = receiver.requests(path, 1)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            held.set()
            proc = _serve(backend.url, port, **allow)
            _up(api)
            first, second = receiver.requests(path, 2, timeout=60)
            deadline = time.monotonic() + START_S
            while True:
                items = api.get(f"/v1/webhooks/{hook['id']}/deliveries", org.token).json()["items"]
                if items and items[0]["status"] == "delivered":
                    break
                assert time.monotonic() < deadline, items
                time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(20)
            api.http.close()
            receiver.close()
    (item,) = items
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == item["id"]
    assert second["verified"] and first["body"] == second["body"]
    assert receiver.accepted[path] == {item["id"]}  # exactly one accepted delivery
    assert len(receiver.got[path]) == 2
    assert [a["status_code"] for a in item["log"]] == [200]  # the killed attempt left no row
