"""What a request must show before the server reads its body (issue 16): a well-formed
key, an address under the failed-authentication limit, a body the route needs, sent in
time, while the server is not already serving its cap of requests."""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest

from .harness import Api, new_org, running
from .test_permissions import meeting_body


@pytest.fixture
def backend(team_servers):
    return team_servers.backend("sqlite")  # the guards sit before the database


def raw(port: int, method: str, path: str, headers: dict, body: bytes = b"") -> socket.socket:
    """A connection that sends the request line, the headers and ``body``, then waits."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    sock.sendall(head.encode() + b"\r\n" + body)
    return sock


def answer(sock: socket.socket) -> tuple[int, dict, float]:
    """Status, JSON body and seconds taken to answer."""
    start, data = time.monotonic(), b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"{}"), time.monotonic() - start


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def port_of(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_no_body_is_read_before_a_well_formed_key(backend):
    with running(backend) as server:
        for auth in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic abc"}):
            sock = raw(
                port_of(server),
                "POST",
                "/v1/clients",
                {"Content-Type": "application/json", "Content-Length": "5000000", **auth},
            )
            status, body, took = answer(sock)  # answered with the body still unsent
            sock.close()
            assert status == 401 and body["error"]["code"] == "not_authenticated", body
            assert took < 5


def test_failed_authentication_limit_applies_before_the_body(backend):
    with running(backend, auth_failure_limit="2/minute") as server:
        codes = []
        for _ in range(3):
            sock = raw(
                port_of(server),
                "PUT",
                f"/v1/meetings/{uuid.uuid4()}",
                {"Content-Length": "9000000"},
            )
            codes.append(answer(sock)[0])
            sock.close()
        assert codes == [401, 401, 429]


def test_only_upload_routes_take_large_bodies(backend):
    org = new_org(backend)
    with running(backend, max_body_bytes=3_000_000) as server:
        api = Api(server.url)
        big = api.post("/v1/clients", org.token, json={"name": "Big", "notes": "n" * 300_000})
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
        meeting = str(uuid.uuid4())
        body = meeting_body(meeting)
        body["segments"] = [
            {"start": i, "end": i + 1, "speaker": "SPEAKER_1", "text": "word " * 100}
            for i in range(3000)
        ]  # about 1.8 MB
        assert api.put(f"/v1/meetings/{meeting}", org.token, json=body).status_code == 201
        assert api.get("/v1/me", org.token).status_code == 200


def test_slow_bodies_time_out(backend):
    org = new_org(backend)
    with running(backend, body_timeout_s=1) as server:
        sock = raw(
            port_of(server),
            "POST",
            "/v1/clients",
            {
                "Authorization": f"Bearer {org.token}",
                "Content-Type": "application/json",
                "Content-Length": "100",
            },
            b'{"name": ',
        )
        status, body, took = answer(sock)
        sock.close()
        assert status == 408 and body["error"]["code"] == "request_timeout", body
        assert took < 5


def test_concurrent_requests_are_capped(backend):
    org = new_org(backend)
    with running(backend, max_concurrent_requests=2, body_timeout_s=10) as server:
        stalled = [
            raw(
                port_of(server),
                "POST",
                "/v1/clients",
                {"Authorization": f"Bearer {org.token}", "Content-Length": "100"},
                b"{",
            )
            for _ in range(2)
        ]
        time.sleep(0.3)
        busy = Api(server.url).get("/v1/me", org.token)
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "unavailable"
        assert int(busy.headers["Retry-After"]) >= 1
        for sock in stalled:
            sock.close()
        time.sleep(0.3)
        assert Api(server.url).get("/v1/me", org.token).status_code == 200
