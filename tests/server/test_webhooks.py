"""Webhooks against a real loopback receiver that checks every request with the
standardwebhooks library's own ``Webhook.verify``: signed, retried with the same
webhook-id, 410 disables, tenants apart, redelivery, the URL guard (docs/webhooks.md)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from .harness import Api, free_port, new_org, running
from .webhook_receiver import Receiver
from .workflow_support import wait_for

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.xdist_group("workflows"),
]  # DBOS: one per process


@pytest.fixture(scope="module")
def receiver():
    made = Receiver()
    yield made
    made.close()


@pytest.fixture(scope="module")
def hooks(team_servers):
    """A server that runs workflows, on the suite's SQLite database."""
    from qylon_server.workflows import engine

    backend = team_servers.backend("sqlite")
    with running(
        backend, workflow_executor=f"hooks-{uuid.uuid4().hex[:8]}", webhook_allow="127.0.0.1"
    ) as server:
        engine.EngineState.settings = engine.EngineState.settings.model_copy(
            update={"webhook_allow": "127.0.0.1"}
        )
        api = Api(server.url, backend)
        yield api
        api.http.close()


@pytest.fixture
def org(team_servers):
    return new_org(team_servers.backend("sqlite"))


def _subscribe(api, org, receiver, types=("client.created",), script=()) -> tuple[dict, str]:
    path = f"/hook/{uuid.uuid4().hex[:8]}"
    r = api.post(
        "/v1/webhooks", org.token, json={"url": receiver.url(path), "event_types": list(types)}
    )
    assert r.status_code == 201, r.text
    made = r.json()
    receiver.secrets[path] = made["secret"]
    receiver.script[path] = list(script)
    return made, path


def _deliveries(api, org, hook_id: str, test=lambda items: True, timeout=20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        r = api.get(f"/v1/webhooks/{hook_id}/deliveries", org.token)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if test(items):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.1)


def _settled(items) -> bool:
    return bool(items) and all(i["status"] not in ("pending", "retrying") for i in items)


def test_a_subscribed_event_arrives_once_signed(hooks, org, receiver):
    made, path = _subscribe(hooks, org, receiver)
    assert made["secret"].startswith("whsec_") and made["enabled"] is True
    shown = hooks.get(f"/v1/webhooks/{made['id']}", org.token).json()
    assert shown["secret"] is None  # shown once, at creation
    listed = hooks.get("/v1/webhooks", org.token).json()
    assert "meeting.stored" in listed["event_types"] and listed["items"][0]["secret"] is None
    client = hooks.post("/v1/clients", org.token, json={"name": "Acme"}).json()
    (got,) = receiver.requests(path, 1)
    assert got["verified"], got
    body = json.loads(got["body"])
    assert body["type"] == "client.created" and body["data"]["name"] == "Acme"
    assert body["data"]["subject"] == f"client:{client['id']}"
    (item,) = _deliveries(hooks, org, made["id"], _settled)
    assert item["id"] == got["headers"]["webhook-id"] and item["id"].startswith("msg_")
    assert item["status"] == "delivered" and item["attempts"] == 1
    (attempt,) = item["log"]
    assert attempt["status_code"] == 200 and attempt["response"] == '{"status": 200}'
    assert attempt["duration_ms"] >= 0 and attempt["error"] is None
    time.sleep(0.5)
    assert len(receiver.got[path]) == 1  # once


def test_a_failing_receiver_gets_the_same_webhook_id_again(hooks, org, receiver):
    made, path = _subscribe(hooks, org, receiver, script=[500])
    sent = hooks.post(f"/v1/webhooks/{made['id']}/test", org.token)
    assert sent.status_code == 202, sent.text
    receiver.requests(path, 1)
    _deliveries(hooks, org, made["id"], lambda items: items[0]["attempts"] == 1)
    # the backoff is 30 s: end it now, as the clock signal does
    run_id = sent.json()["run_id"]
    r = hooks.post(f"/v1/workflow-runs/{run_id}/signal/clock", org.token, json={})
    assert r.status_code == 202, r.text
    first, second = receiver.requests(path, 2)
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == sent.json()["id"]
    assert first["verified"] and second["verified"]
    assert json.loads(second["body"])["type"] == "webhook.test"
    (item,) = _deliveries(hooks, org, made["id"], _settled)
    assert item["status"] == "delivered" and item["attempts"] == 2
    assert [a["status_code"] for a in item["log"]] == [500, 200]
    assert receiver.accepted[path] == {item["id"]}


def test_a_tampered_or_replayed_request_fails_verification(hooks, org, receiver):
    from qylon_server.workflows import webhook_send

    made, path = _subscribe(hooks, org, receiver)
    hooks.post(f"/v1/webhooks/{made['id']}/test", org.token)
    (got,) = receiver.requests(path, 1)
    hook = Webhook(made["secret"])
    assert hook.verify(got["body"], got["headers"])["type"] == "webhook.test"
    tampered = got["body"].replace(b"A test event", b"A fake event")
    with pytest.raises(WebhookVerificationError):
        hook.verify(tampered, got["headers"])
    with pytest.raises(WebhookVerificationError):  # another secret
        Webhook("whsec_" + "QUJD" * 8).verify(got["body"], got["headers"])
    replayed = {**got["headers"], "webhook-timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(WebhookVerificationError):  # a new timestamp breaks the signature
        hook.verify(got["body"], replayed)
    old = webhook_send.headers(
        made["secret"], "msg_x", got["body"].decode(), datetime.now(UTC) - timedelta(minutes=10)
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        hook.verify(got["body"], old)


def test_410_disables_and_other_4xx_fail_without_retry(hooks, org, receiver):
    gone, gone_path = _subscribe(hooks, org, receiver, script=[410])
    bad, _ = _subscribe(hooks, org, receiver, script=[400])
    hooks.post("/v1/clients", org.token, json={"name": "Beta"})
    (g,) = _deliveries(hooks, org, gone["id"], _settled)
    (b,) = _deliveries(hooks, org, bad["id"], _settled)
    assert g["status"] == "failed" and g["attempts"] == 1 and g["last_status_code"] == 410
    assert b["status"] == "failed" and b["attempts"] == 1 and b["last_status_code"] == 400
    now = hooks.get(f"/v1/webhooks/{gone['id']}", org.token).json()
    assert now["enabled"] is False and "410" in now["disabled_reason"]
    assert hooks.get(f"/v1/webhooks/{bad['id']}", org.token).json()["enabled"] is True
    hooks.post("/v1/clients", org.token, json={"name": "Gamma"})
    _deliveries(hooks, org, bad["id"], lambda items: len(items) == 2)
    assert len(_deliveries(hooks, org, gone["id"])) == 1  # disabled: nothing more
    assert len(receiver.got[gone_path]) == 1
    run = wait_for(hooks, org.token, g["run_id"])  # its run ends after the logged attempt
    assert run["status"] == "failed" and run["steps"][0]["attempts"] == 1


def test_another_organisations_events_never_arrive(hooks, org, receiver, team_servers):
    mine, my_path = _subscribe(hooks, org, receiver)
    other = new_org(team_servers.backend("sqlite"))
    theirs, their_path = _subscribe(hooks, other, receiver)
    hooks.post("/v1/clients", other.token, json={"name": "Theirs"})
    receiver.requests(their_path, 1)
    _deliveries(hooks, other, theirs["id"], _settled)
    assert hooks.get(f"/v1/webhooks/{mine['id']}/deliveries", org.token).json()["items"] == []
    assert my_path not in receiver.got
    assert hooks.get(f"/v1/webhooks/{theirs['id']}", org.token).status_code == 404
    delivery = receiver.got[their_path][0]["headers"]["webhook-id"]
    assert hooks.post(f"/v1/webhook-deliveries/{delivery}/redeliver", org.token).status_code == 404


def test_redeliver_sends_again_with_a_new_attempt(hooks, org, receiver):
    made, path = _subscribe(hooks, org, receiver)
    hooks.post(f"/v1/webhooks/{made['id']}/test", org.token)
    (item,) = _deliveries(hooks, org, made["id"], _settled)
    again = hooks.post(f"/v1/webhook-deliveries/{item['id']}/redeliver", org.token)
    assert again.status_code == 202, again.text
    first, second = receiver.requests(path, 2)
    assert second["verified"] and second["headers"]["webhook-id"] == item["id"]
    assert second["body"] == first["body"]
    (item,) = _deliveries(hooks, org, made["id"], lambda i: i[0]["attempts"] == 2)
    assert [a["status_code"] for a in item["log"]] == [200, 200]
    assert len({a["run_id"] for a in item["log"]}) == 2  # a run of its own
    audit = hooks.get("/v1/audit-events?action=webhook.redeliver", org.token).json()
    assert audit["items"][0]["detail"]["delivery_id"] == item["id"]


def test_rotate_disable_and_delete(hooks, org, receiver):
    made, path = _subscribe(hooks, org, receiver)
    rotated = hooks.post(f"/v1/webhooks/{made['id']}/rotate-secret", org.token).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    receiver.secrets[path] = rotated["secret"]
    hooks.post(f"/v1/webhooks/{made['id']}/test", org.token)
    (got,) = receiver.requests(path, 1)
    assert got["verified"]  # signed with the new secret
    with pytest.raises(WebhookVerificationError):
        Webhook(made["secret"]).verify(got["body"], got["headers"])
    off = hooks.patch(f"/v1/webhooks/{made['id']}", org.token, json={"enabled": False})
    assert off.json()["enabled"] is False
    assert hooks.post(f"/v1/webhooks/{made['id']}/test", org.token).status_code == 409
    assert hooks.call("DELETE", f"/v1/webhooks/{made['id']}", org.token).status_code == 204
    assert hooks.get(f"/v1/webhooks/{made['id']}", org.token).status_code == 404


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.com/x", "invalid_input"),  # http only to allowed hosts
        ("https://10.0.0.5/x", "not_allowed"),
        ("https://127.0.0.1:8443/x", "not_allowed"),
        ("https://169.254.169.254/latest", "not_allowed"),
        ("https://[::1]/x", "not_allowed"),
        ("https://[::ffff:10.0.0.1]/x", "not_allowed"),
        ("https://localhost/x", "not_allowed"),
        ("https://u:p@hooks.example.com/x", "invalid_input"),
        ("ftp://hooks.example.com/x", "invalid_input"),
    ],
)
def test_the_url_guard_refuses_private_and_plain_http(url, code):
    from qylon_server.workflows.webhook_send import Refused, check

    with pytest.raises(Refused) as caught:
        check(url, "127.0.0.1:9")
    assert caught.value.code == code


def test_the_guard_lets_public_https_and_allowed_hosts_through():
    from qylon_server.workflows.webhook_send import check

    check("https://8.8.8.8/hook", "")
    check("https://hooks.example.com/hook", "", resolve=False)
    check("http://127.0.0.1:9/hook", "127.0.0.1:9")


def test_create_refuses_what_the_guard_refuses_and_unknown_types(hooks, org):
    bad = hooks.post(
        "/v1/webhooks",
        org.token,
        json={"url": "https://10.1.2.3/x", "event_types": ["user.created"]},
    )
    assert bad.status_code == 403 or bad.status_code == 422, bad.text
    assert "not a public address" in bad.json()["error"]["message"]
    unknown = hooks.post(
        "/v1/webhooks",
        org.token,
        json={"url": "https://hooks.example.com/x", "event_types": ["user.signed_in"]},
    )
    assert unknown.status_code == 422 and "user.signed_in" in unknown.json()["error"]["message"]


@pytest.mark.slow  # ten real commands (about 0.4 s each here) and three deliveries: ~8 s
def test_more_deliveries_at_once_than_the_pool_has_connections_all_arrive(hooks, org, receiver):
    """An attempt logs itself on connections of its own: drawn from the engine's pool (15
    on SQLite), slow deliveries at once each held one connection and waited for another."""
    made, path = _subscribe(hooks, org, receiver)
    receiver.slow[path] = 2.0
    for i in range(20):
        assert hooks.post("/v1/clients", org.token, json={"name": f"Many {i}"}).status_code == 201
    assert len(receiver.requests(path, 20, timeout=25)) == 20
    done = _deliveries(hooks, org, made["id"], lambda items: len(items) == 20 and _settled(items))
    assert {d["status"] for d in done} == {"delivered"}


def test_the_cli_creates_tests_reads_the_log_redelivers_and_deletes(hooks, org, receiver):
    from ..conftest import credentials, run_qylon_here

    env = credentials(str(hooks.http.base_url).rstrip("/"), org.token)
    path = f"/hook/{uuid.uuid4().hex[:8]}"

    def qylon(*args: str) -> dict:
        done = run_qylon_here("webhooks", *args, "--json", env=env)
        assert done.code == 0, done.stderr
        return json.loads(done.stdout)["data"]

    made = qylon(
        "create", receiver.url(path), "--event", "user.created", "--event", "meeting.stored"
    )
    receiver.secrets[path] = made["secret"]
    assert made["event_types"] == ["meeting.stored", "user.created"]
    listed = qylon("list")
    assert [w["id"] for w in listed["items"]] == [made["id"]] and listed["items"][0][
        "secret"
    ] is None
    hooks.post("/v1/users", org.token, json={"email": "new.hire@example.com"})
    (got,) = receiver.requests(path, 1)
    assert got["verified"] and json.loads(got["body"])["data"]["email"] == "new.hire@example.com"
    queued = qylon("test", made["id"])
    receiver.requests(path, 2)
    (item,) = [d for d in _deliveries(hooks, org, made["id"], _settled) if d["id"] == queued["id"]]
    log = qylon("deliveries", made["id"])
    assert {d["event_type"] for d in log} == {"user.created", "webhook.test"}
    assert qylon("redeliver", item["id"])["id"] == item["id"]
    assert receiver.requests(path, 3)[2]["headers"]["webhook-id"] == item["id"]
    rotated = qylon("rotate-secret", made["id"])
    assert rotated["secret"] != made["secret"]
    assert qylon("update", made["id"], "--disable")["enabled"] is False
    assert qylon("delete", made["id"], "--yes")["deleted"] is True
    missing = run_qylon_here("webhooks", "test", made["id"], "--json", env=env)
    assert missing.code == 5 and json.loads(missing.stdout)["error"]["code"] == "not_found"
    bad = run_qylon_here(
        "webhooks", "create", "http://example.com/x", "--event", "user.created", "--json", env=env
    )
    assert bad.code == 3, bad.stdout


def test_a_receiver_that_was_down_gets_it_once_when_it_is_back(hooks, org):
    port = free_port()
    path = "/back"
    made = hooks.post(
        "/v1/webhooks",
        org.token,
        json={"url": f"http://127.0.0.1:{port}{path}", "event_types": ["client.created"]},
    ).json()
    sent = hooks.post(f"/v1/webhooks/{made['id']}/test", org.token).json()
    (item,) = _deliveries(hooks, org, made["id"], lambda i: i[0]["attempts"] == 1)
    assert item["status"] == "retrying" and item["log"][0]["status_code"] is None
    assert "Connect" in item["log"][0]["error"]  # nobody listened
    back = Receiver(port)
    try:
        back.secrets[path] = made["secret"]
        hooks.post(f"/v1/workflow-runs/{sent['run_id']}/signal/clock", org.token, json={})
        (got,) = back.requests(path, 1)
        assert got["verified"] and back.accepted[path] == {sent["id"]}
        (item,) = _deliveries(hooks, org, made["id"], _settled)
        assert item["status"] == "delivered" and item["attempts"] == 2
    finally:
        back.close()


FAILING = """
name: hook-fails
version: 1
steps:
  - name: boom
    action: fail
    with: {code: conflict}
"""


def test_a_failed_run_is_sent_and_the_delivery_runs_are_not(hooks, org, receiver):
    made, path = _subscribe(hooks, org, receiver, types=["workflow_run.finished"])
    assert hooks.post("/v1/workflows", org.token, json={"text": FAILING}).status_code == 201
    run = hooks.post("/v1/workflows/hook-fails/runs", org.token, json={"input": {}}).json()
    (got,) = receiver.requests(path, 1)
    body = json.loads(got["body"])
    assert body["type"] == "workflow_run.finished" and body["data"]["status"] == "failed"
    assert body["data"]["subject"].endswith(run["id"])
    (item,) = _deliveries(hooks, org, made["id"], _settled)
    # the delivery is settled when its attempt is logged; its run ends a moment later
    finished = wait_for(hooks, org.token, item["run_id"])
    assert finished["status"] == "completed" and finished["name"] == "webhook.deliver"
    time.sleep(0.5)  # the delivery's own run finished: no delivery about it
    assert len(_deliveries(hooks, org, made["id"])) == 1 and len(receiver.got[path]) == 1
