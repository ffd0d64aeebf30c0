"""The built-in `http.request` action against a real loopback HTTP server: the allow-list
(QYLON_WORKFLOW_HTTP_ALLOW), the Idempotency-Key, typed errors and capped output."""

from __future__ import annotations

import json
import time

import pytest
from qylon_server.config import ServerSettings
from qylon_server.workflows import actions, engine
from qylon_server.workflows.http import check_url, parse_allow

from ..conftest import run_qylon
from .harness import free_port
from .workflow_support import Service


@pytest.fixture
def service():
    with Service() as s:
        yield s


def _call(args: dict, allow: str, monkeypatch, step: str = "call", deadline=None) -> dict:
    monkeypatch.setattr(engine.EngineState, "settings", ServerSettings(workflow_http_allow=allow))
    ctx = actions.ActionContext(None, None, "org-1", "run-1", step, deadline)
    return actions.call("http.request", ctx, args)


def _fails(args: dict, allow: str, monkeypatch, **kw) -> actions.ActionError:
    with pytest.raises(actions.ActionError) as caught:
        _call(args, allow, monkeypatch, **kw)
    return caught.value


# -- the allow-list -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "url", "ok"),
    [
        ("api.example.com", "https://api.example.com/v1/x", True),
        ("api.example.com", "http://API.example.com:8080/", True),
        ("api.example.com", "https://api.example.com.evil.net/", False),
        ("api.example.com", "https://evil.net/?api.example.com", False),
        ("api.example.com:8443", "https://api.example.com/", False),
        ("api.example.com:8443", "https://api.example.com:8443/", True),
        ("*.example.com", "https://a.b.example.com/", True),
        ("*.example.com", "https://example.com/", False),
        ("*.example.com", "https://badexample.com/", False),
        ("https://hooks.example.com/crm/", "https://hooks.example.com/crm/notes", True),
        ("https://hooks.example.com/crm", "https://hooks.example.com/crm", True),
        ("https://hooks.example.com/crm", "https://hooks.example.com/crmx", False),
        ("https://hooks.example.com/crm", "http://hooks.example.com/crm/x", False),
        ("https://hooks.example.com/crm", "https://hooks.example.com:444/crm/x", False),
        ("https://hooks.example.com/crm", "https://hooks.example.com/crm/../admin", False),
        ("https://hooks.example.com/crm", "https://hooks.example.com/crm/%2e%2e/admin", False),
        ("a.example, b.example", "https://b.example/", True),
        ("127.0.0.1:9", "http://169.254.169.254/latest/meta-data", False),
    ],
)
def test_the_allow_list_lets_through_only_what_it_names(allow, url, ok):
    from qylon_server.workflows.http import HttpError

    if ok:
        check_url(url, allow)
    else:
        with pytest.raises(HttpError) as caught:
            check_url(url, allow)
        assert caught.value.code in ("not_allowed", "invalid_input")


@pytest.mark.parametrize(
    "entry", ["hooks.example.com/crm", "ftp://h/", "https://u:p@h/", "https://h/?q=1", "a*.b.c"]
)
def test_a_bad_allow_list_entry_is_named(entry):
    with pytest.raises(ValueError, match="QYLON_WORKFLOW_HTTP_ALLOW"):
        parse_allow(entry)


def test_a_bad_allow_list_entry_stops_the_server_and_the_step(monkeypatch):
    bad = "hooks.example.com/crm"
    for command in (["worker", "--id", "w1"], ["start"]):
        done = run_qylon("server", *command, env={"QYLON_WORKFLOW_HTTP_ALLOW": bad})
        assert done.code == 3 and "QYLON_WORKFLOW_HTTP_ALLOW" in done.stderr, done.stderr
    error = _fails({"url": "https://hooks.example.com/crm"}, bad, monkeypatch)
    assert error.code == "not_allowed" and bad in error.message


def test_with_no_allow_list_every_http_step_fails_naming_the_setting(service, monkeypatch):
    error = _fails({"url": f"{service.url}/x"}, "", monkeypatch)
    assert error.code == "not_allowed"
    assert "QYLON_WORKFLOW_HTTP_ALLOW" in error.message
    assert service.seen == []  # nothing was sent
    other = _fails(
        {"url": "http://169.254.169.254/latest"}, f"127.0.0.1:{service.port}", monkeypatch
    )
    assert other.code == "not_allowed" and "169.254.169.254" in other.message


# -- the action -----------------------------------------------------------------------------


def test_http_request_sends_the_idempotency_key_and_returns_the_answer(service, monkeypatch):
    allow = f"127.0.0.1:{service.port}"
    out = _call(
        {
            "method": "post",
            "url": f"{service.url}/things?x=1",
            "headers": {"X-Trace": "abc"},
            "json": {"name": "Ana", "n": 2},
        },
        allow,
        monkeypatch,
        step="create",
    )
    assert out["status"] == 201
    assert out["json"] == {"ok": True, "path": "/things"}
    assert out["headers"]["etag"] == '"v1"' and out["headers"]["content-type"] == "application/json"
    sent = service.seen[-1]
    assert sent["method"] == "POST"
    assert sent["headers"]["Idempotency-Key"] == "run-1.create"
    assert sent["headers"]["X-Trace"] == "abc"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert json.loads(sent["body"]) == {"name": "Ana", "n": 2}
    again = _call({"url": f"{service.url}/things"}, allow, monkeypatch, step="create")
    assert service.seen[-1]["headers"]["Idempotency-Key"] == "run-1.create"  # stable
    assert again["status"] == 201
    _call(
        {"url": f"{service.url}/x", "body": "plain"}, allow, monkeypatch, step="create.compensate"
    )
    assert service.seen[-1]["headers"]["Idempotency-Key"] == "run-1.create.compensate"
    assert service.seen[-1]["body"] == b"plain"


def test_http_errors_are_typed_for_retry_on(service, monkeypatch):
    allow = f"http://127.0.0.1:{service.port}/"
    client = _fails({"url": f"{service.url}/status/404"}, allow, monkeypatch)
    assert client.code == "http_error" and "HTTP 404" in client.message
    for status in (500, 503, 429):
        server = _fails({"url": f"{service.url}/status/{status}"}, allow, monkeypatch)
        assert server.code == "unavailable" and f"HTTP {status}" in server.message
    assert (
        _call({"url": f"{service.url}/status/404", "expect": [404]}, allow, monkeypatch)["status"]
        == 404
    )
    wrong = _fails({"url": f"{service.url}/status/200", "expect": [201]}, allow, monkeypatch)
    assert wrong.code == "http_error"
    redirect = _fails({"url": f"{service.url}/redirect"}, allow, monkeypatch)
    assert redirect.code == "http_error" and "302" in redirect.message  # not followed
    assert not any(s["path"].startswith("http://10.") for s in service.seen)
    timeout = _fails({"url": f"{service.url}/slow"}, allow, monkeypatch, deadline=time.time() + 0.5)
    assert timeout.code == "unavailable" and "no answer" in timeout.message
    closed = free_port()
    refused = _fails({"url": f"http://127.0.0.1:{closed}/"}, f"127.0.0.1:{closed}", monkeypatch)
    assert refused.code == "unavailable"


def test_http_request_caps_the_output_and_checks_its_parameters(service, monkeypatch):
    allow = f"127.0.0.1:{service.port}"
    big = _call({"url": f"{service.url}/big"}, allow, monkeypatch)
    assert big["truncated"] is True and len(big["text"]) == 64 * 1024
    head = _call({"method": "HEAD", "url": f"{service.url}/x"}, allow, monkeypatch)
    assert head["status"] == 201 and head["json"] is None  # no body
    for args, field in [
        ({}, "url"),
        ({"url": f"{service.url}/", "method": "TRACE"}, "method"),
        ({"url": f"{service.url}/", "json": {}, "body": "x"}, "json or body"),
        ({"url": f"{service.url}/", "headers": {"Host": "evil"}}, "Host"),
        ({"url": f"{service.url}/", "expect": ["200"]}, "expect"),
        ({"url": f"{service.url}/", "data": 1}, "data"),
        ({"url": "/relative"}, "url"),
        ({"url": f"http://u:p@127.0.0.1:{service.port}/"}, "credentials"),
    ]:
        error = _fails(args, allow, monkeypatch)
        assert error.code == "invalid_input" and field in error.message, (args, error.message)
