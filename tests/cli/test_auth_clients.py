"""`qylon auth` and `qylon clients` against a real server on a loopback port."""

from __future__ import annotations

import json
import stat
import time

import pytest

from qylon_cli.client import ApiClient
from qylon_cli.errors import NotAllowed, NotAuthenticated, NotFound, QylonError, Unavailable

from ..conftest import FILE_KEYRING, credentials
from ..server.harness import free_port


@pytest.fixture
def backend(team_servers):
    """The CLI's side does not depend on the server's engine: SQLite only."""
    return team_servers.backend("sqlite")


def test_login_status_logout_with_keyring(qylon, server, org, qylon_home):
    bad = qylon(
        "auth",
        "login",
        "--server",
        server.url,
        "--token-stdin",
        "--json",
        input="qyl_live_nope_nopenopenopenopenopenope\n",
        env=FILE_KEYRING,
    )
    assert bad.code == 4 and bad.json["error"]["code"] == "not_authenticated"
    login = qylon(
        "auth",
        "login",
        "--server",
        server.url + "/",
        "--token-stdin",
        "--json",
        input=org.token + "\n",
        env=FILE_KEYRING,
    )
    assert login.code == 0, login.stderr
    assert login.json["data"]["organisation"] == org.name and login.json["data"]["role"] == "owner"
    assert (
        org.token not in (qylon_home / "config.toml").read_text()
    )  # only the URL is in the config file
    status = qylon("auth", "status", "--json", env=FILE_KEYRING)
    assert (
        status.code == 0
        and status.json["data"]["server"] == server.url
        and status.json["data"]["source"] == "keyring"
    )
    assert qylon("auth", "logout", "--json", env=FILE_KEYRING).json["data"]["removed"] is True
    after = qylon("auth", "status", "--json", env=FILE_KEYRING)
    assert after.code == 4 and "qylon auth login" in after.json["error"]["hint"]


def test_login_without_terminal_needs_token_stdin(qylon, server):
    result = qylon("auth", "login", "--server", server.url, "--json", env=FILE_KEYRING)
    assert result.code == 2 and "--token-stdin" in result.json["error"]["hint"]


def test_environment_wins_and_needs_no_keyring(qylon, server, org):
    env = {
        **credentials(server.url, org.token),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    status = qylon("auth", "status", "--json", env=env)
    assert status.code == 0 and status.json["data"]["source"] == "environment"
    assert qylon("auth", "token", env=env).stdout == org.token + "\n"


def test_without_a_keyring_the_key_goes_to_a_private_file(qylon, server, org, qylon_home):
    no_keyring = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    login = qylon(
        "auth", "login", "--server", server.url, "--token-stdin", input=org.token, env=no_keyring
    )
    stored = qylon_home / "credentials.json"
    assert login.code == 0, login.stderr
    assert f"No OS keyring here: the key is kept in {stored}" in login.stderr
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text())["qylon"] == {server.url: org.token}
    # Later commands use it, and say where it came from.
    status = qylon("auth", "status", "--json", env=no_keyring)
    assert status.code == 0 and status.json["data"]["source"] == f"file {stored}"
    assert qylon("clients", "add", "Filed", "--json", env=no_keyring).code == 0
    token = qylon("auth", "token", "--json", env=no_keyring).json["data"]
    assert token == {"server": server.url, "token": org.token, "source": f"file {stored}"}
    # QYLON_TOKEN still wins over the file.
    other = qylon("auth", "token", env={**no_keyring, "QYLON_TOKEN": "qyl_live_env"})
    assert other.stdout == "qyl_live_env\n"
    out = qylon("auth", "logout", "--json", env=no_keyring)
    assert out.json["data"]["removed"] is True
    assert json.loads(stored.read_text())["qylon"] == {}
    gone = qylon("auth", "token", "--json", env=no_keyring)
    assert gone.code == 4


def test_keys_create_list_rotate_revoke(qylon_here, server, signed_in):
    qylon = qylon_here  # in-process; the keyring tests run `auth keys` as a subprocess
    made = qylon(
        "auth", "keys", "create", "--name", "ci", "--scope", "read", "--json", env=signed_in
    )
    assert made.code == 0 and made.json["data"]["token"].startswith("qyl_live_")
    key = made.json["data"]
    listed = qylon("auth", "keys", "list", "--json", env=signed_in).json["data"]["items"]
    assert any(k["id"] == key["id"] and "token" not in k for k in listed)
    rotated = qylon(
        "auth", "keys", "rotate", key["prefix"], "--grace", "0", "--json", env=signed_in
    )
    assert rotated.code == 0 and rotated.json["data"]["rotated_from_id"] == key["id"]
    old = qylon("auth", "status", "--json", env=credentials(server.url, key["token"]))
    assert old.code == 4
    new_id = rotated.json["data"]["id"]
    assert (
        qylon("auth", "keys", "revoke", new_id, "--json", env=signed_in).code == 2
    )  # no terminal: needs --yes
    revoked = qylon("auth", "keys", "revoke", new_id, "--yes", "--json", env=signed_in)
    assert revoked.code == 0 and revoked.json["data"]["status"] == "revoked"
    reader = credentials(server.url, made.json["data"]["token"])
    assert qylon("auth", "keys", "list", "--json", env=reader).code == 4
    assert qylon("auth", "keys", "revoke", "nope", "--yes", "--json", env=signed_in).code == 5


def test_rotating_the_cli_own_key_updates_the_keyring(qylon, server, org):
    assert (
        qylon(
            "auth",
            "login",
            "--server",
            server.url,
            "--token-stdin",
            input=org.token,
            env=FILE_KEYRING,
        ).code
        == 0
    )
    rotated = qylon(
        "auth", "keys", "rotate", org.token[:17], "--grace", "0", "--json", env=FILE_KEYRING
    )
    assert rotated.code == 0, rotated.stdout + rotated.stderr
    assert (
        qylon("auth", "status", "--json", env=FILE_KEYRING).code == 0
    )  # the keyring holds the new secret


def test_clients_add_list_show_update_archive(qylon_here, signed_in):
    qylon = qylon_here  # in-process; test_member_cannot_add_clients runs the subprocess
    added = qylon(
        "clients",
        "add",
        "Acme Corp",
        "--domain",
        "acme.example",
        "--tag",
        "retail",
        "--notes",
        "Met at the expo",
        "--json",
        env=signed_in,
    )
    assert added.code == 0, added.stderr
    assert qylon("clients", "add", "acme corp", "--json", env=signed_in).code == 3
    assert qylon("clients", "add", "Globex", env=signed_in).code == 0
    listed = qylon("clients", "list", "--json", env=signed_in).json["data"]
    assert [c["name"] for c in listed["items"]] == ["Acme Corp", "Globex"]
    assert (
        qylon("clients", "list", "--search", "glob", "--json", env=signed_in).json["data"]["total"]
        == 1
    )
    human = qylon("clients", "list", env=signed_in)
    assert "Acme Corp" in human.stdout and "retail" in human.stdout
    shown = qylon("clients", "show", "acme corp", "--json", env=signed_in).json["data"]
    assert shown["domain"] == "acme.example" and shown["notes"] == "Met at the expo"
    updated = qylon(
        "clients",
        "update",
        "Acme Corp",
        "--add-tag",
        "priority",
        "--remove-tag",
        "retail",
        "--json",
        env=signed_in,
    )
    assert updated.json["data"]["tags"] == ["priority"]
    assert qylon("clients", "update", "Acme Corp", "--json", env=signed_in).code == 2
    assert (
        qylon("clients", "archive", "Globex", "--json", env=signed_in).json["data"]["status"]
        == "archived"
    )
    assert qylon("clients", "list", "--json", env=signed_in).json["data"]["total"] == 1
    assert qylon("clients", "list", "--all", "--json", env=signed_in).json["data"]["total"] == 2
    missing = qylon("clients", "show", "Nobody", "--json", env=signed_in)
    assert missing.code == 5 and missing.json["error"]["code"] == "not_found"


def test_member_cannot_add_clients(qylon, server, org):
    with ApiClient(server.url, org.token) as api:
        user = api.post("/v1/users", {"email": "m@example.com", "role": "member"})
        key = api.post(
            "/v1/api-keys", {"name": "m", "scopes": ["read", "write"], "user_id": user["id"]}
        )
    result = qylon("clients", "add", "X", "--json", env=credentials(server.url, key["token"]))
    assert result.code == 4 and result.json["error"]["code"] == "not_allowed"


def test_client_error_mapping_and_retries(server, org):
    with ApiClient(server.url, org.token) as api, pytest.raises(NotFound):
        api.get("/v1/clients/00000000-0000-0000-0000-000000000000")
    with (
        ApiClient(server.url, "qyl_live_x_yyyyyyyyyyyyyyyyyyyyyyyy") as api,
        pytest.raises(NotAuthenticated),
    ):
        api.get("/v1/me")
    member_token = None
    with ApiClient(server.url, org.token) as api:
        member_token = api.post("/v1/api-keys", {"name": "r", "scopes": ["read"]})["token"]
    with ApiClient(server.url, member_token) as api, pytest.raises(NotAllowed):
        api.post("/v1/clients", {"name": "Nope"})


def test_a_server_that_is_down_fails_fast_one_that_answered_is_retried(qylon):
    waits: list[float] = []
    dead = f"http://127.0.0.1:{free_port()}"
    with (
        ApiClient(dead, "t", retries=8, backoff=0.01, sleep=waits.append) as api,
        pytest.raises(Unavailable) as err,
    ):
        api.get("/health")
    assert len(waits) == 1 and err.value.exit_code == 6
    assert str(err.value).endswith(": connection refused.")
    # Once the server has answered, losing it is a blip to ride out (a restart).
    flaky = FlakyHandler(0, 200)
    with ApiClient(flaky.url, "t", retries=3, backoff=0.01, sleep=waits.append) as api:
        waits.clear()
        assert api.get("/health") == {"ok": True}
        flaky.close()
        flaky.httpd.server_close()
        with pytest.raises(Unavailable):
            api.get("/health")
    assert len(waits) == 3 and waits[0] < waits[-1]
    # Through the CLI: exit 6 in seconds, in words.
    started = time.monotonic()
    down = qylon("clients", "list", "--json", env={"QYLON_SERVER": dead, "QYLON_TOKEN": "t"})
    assert down.code == 6 and time.monotonic() - started < 10
    assert "connection refused" in down.json["error"]["message"]
    assert "Error" not in down.json["error"]["message"]


class FlakyHandler:
    """A loopback HTTP server that answers 503 (or 429) a few times, then 200."""

    def __init__(
        self, failures: int, status: int, retry_after: str | None = None, code="unavailable"
    ):
        import http.server
        import threading

        self.calls = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.calls += 1
                if outer.calls <= failures:
                    self.send_response(status)
                    if retry_after:
                        self.send_header("Retry-After", retry_after)
                    body = b'{"error": {"code": "%s", "message": "busy"}}' % code.encode()
                else:
                    self.send_response(200)
                    body = b'{"ok": true}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # shutdown() waits for one poll of serve_forever: 0.5 s by default
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self.httpd.shutdown()


def test_5xx_is_retried_with_backoff_and_429_waits_for_retry_after():
    flaky = FlakyHandler(2, 503)
    waits: list[float] = []
    try:
        with ApiClient(flaky.url, "t", retries=3, backoff=0.01, sleep=waits.append) as api:
            assert api.get("/x") == {"ok": True}
        assert flaky.calls == 3 and len(waits) == 2
    finally:
        flaky.close()
    always = FlakyHandler(99, 502)
    try:
        with (
            ApiClient(always.url, "t", retries=2, backoff=0.01, sleep=lambda s: None) as api,
            pytest.raises(Unavailable),
        ):
            api.get("/x")
        assert always.calls == 3
    finally:
        always.close()
    limited = FlakyHandler(1, 429, retry_after="7")
    waits = []
    try:
        with ApiClient(limited.url, "t", sleep=waits.append) as api:
            assert api.get("/x") == {"ok": True}
        assert waits == [7.0]
    finally:
        limited.close()


def test_a_409_that_changed_nothing_is_retried_even_for_a_post():
    """The server's ``try_again`` and ``version_conflict`` say the request lost a race and
    nothing was stored: the client waits Retry-After and sends it again. Any other 409
    is the caller's to see."""
    raced = FlakyHandler(2, 409, retry_after="1", code="try_again")
    waits: list[float] = []
    try:
        with ApiClient(raced.url, "t", sleep=waits.append) as api:
            assert api.post("/x", json={}) == {"ok": True}
        assert raced.calls == 3 and waits == [1.0, 1.0]
    finally:
        raced.close()
    taken = FlakyHandler(1, 409, code="conflict")
    try:
        with ApiClient(taken.url, "t", sleep=waits.append) as api, pytest.raises(QylonError):
            api.post("/x", json={})
        assert taken.calls == 1
    finally:
        taken.close()
