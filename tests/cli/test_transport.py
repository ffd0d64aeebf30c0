"""How the CLI sends its API key (issue 16): never over plain http:// to another machine
unless told to, never before it knows it can keep the key, and a certificate failure
says it is one."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time

import pytest

from ..conftest import FILE_KEYRING
from ..server.harness import free_port

TOKEN = "qyl_live_abcd1234_" + "s" * 43
FAIL_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@pytest.fixture
def listener():
    """A loopback port that records whether anyone connected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", free_port()))
    sock.listen(5)
    sock.settimeout(0.2)
    seen = []

    def accept():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                seen.append(conn.recv(4096))
                conn.close()
            except OSError:
                continue

    stop = threading.Event()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1], seen
    stop.set()
    thread.join(2)
    sock.close()


@pytest.mark.parametrize("command", [("auth", "status"), ("clients", "list")])
def test_plain_http_to_another_machine_is_refused(qylon, command):
    env = {
        "QYLON_SERVER": "http://192.0.2.10:8080",
        "QYLON_TOKEN": TOKEN,
    }  # TEST-NET: nobody answers
    start = time.monotonic()
    result = qylon(*command, "--json", env=env)
    assert result.code == 2 and result.json["error"]["code"] == "insecure_server", result.stdout
    assert "--insecure" in result.json["error"]["hint"]
    assert time.monotonic() - start < 10  # refused before trying to connect


def test_login_refuses_plain_http_unless_insecure(qylon):
    refused = qylon(
        "auth",
        "login",
        "--server",
        "http://192.0.2.10:8080",
        "--token-stdin",
        "--json",
        input=TOKEN + "\n",
        env=FILE_KEYRING,
    )
    assert refused.code == 2 and refused.json["error"]["code"] == "insecure_server"
    allowed = qylon(
        "auth",
        "login",
        "--server",
        "http://qylon-test.invalid:8080",
        "--insecure",
        "--token-stdin",
        "--json",
        input=TOKEN + "\n",
        env=FILE_KEYRING,
    )
    assert (
        allowed.code == 6 and allowed.json["error"]["code"] == "unavailable"
    )  # it tried: no such host


def test_login_checks_the_key_can_be_kept_before_sending_it(qylon, listener, tmp_path):
    port, seen = listener
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = qylon(
        "auth",
        "login",
        "--server",
        f"http://127.0.0.1:{port}",
        "--token-stdin",
        "--json",
        input=TOKEN + "\n",
        # No keyring, and the folder for the credentials file cannot be made.
        env={**FAIL_KEYRING, "QYLON_HOME": str(blocked / "home")},
    )
    assert result.code != 0 and result.json["error"]["code"] == "no_keyring"
    time.sleep(0.3)
    assert seen == []  # the key went nowhere


def test_a_certificate_failure_says_it_is_one(qylon, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    sock = socket.socket()
    sock.bind(("127.0.0.1", free_port()))
    sock.listen(5)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                context.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        env = {"QYLON_SERVER": f"https://127.0.0.1:{sock.getsockname()[1]}", "QYLON_TOKEN": TOKEN}
        result = qylon("auth", "status", "--json", env=env)
        assert result.code == 6 and result.json["error"]["code"] == "certificate_failed", (
            result.stdout
        )
        assert (
            "certificate" in result.json["error"]["message"]
            and "SSL_CERT_FILE" in result.json["error"]["hint"]
        )
    finally:
        stop.set()
        thread.join(2)
        sock.close()
