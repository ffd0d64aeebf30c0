"""The review's attacks on a server started as an operator would (`qylon server start`):
slow unauthenticated uploads must not grow its memory, and X-Forwarded-For from a
local client must not dodge the failed-authentication limit (issue 16)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from .harness import free_port, wait_healthy

FAKE = "qyl_live_x_" + "y" * 30


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def slow_upload(port: int, sent: list, answers: list, hold: threading.Event) -> None:
    """A 10 MB upload without a key: headers, then as much of the body as the server takes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        sock.sendall(
            b"POST /v1/clients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10485760\r\n\r\n"
        )
        chunk = b"a" * 65536
        try:
            for _ in range(150):  # 9.4 MB, never the whole body
                sock.sendall(chunk)
                sent.append(len(chunk))
        except OSError:
            pass  # the server answered and closed: it read no more
        hold.wait(20)
        try:
            answers.append(sock.recv(200).split(b" ", 2)[1])
        except (OSError, IndexError):
            answers.append(b"closed")
    finally:
        sock.close()


@pytest.mark.slow
def test_attacks_on_a_started_server(qylon, qylon_home):
    assert qylon("server", "migrate").code == 0
    token = qylon(
        "server", "init", "--org", "Acme", "--admin-email", "ops@acme.example", "--json"
    ).json["data"]["token"]
    port = free_port()
    env = {**os.environ, "QYLON_HOME": str(qylon_home), "QYLON_AUTH_FAILURE_LIMIT": "3/minute"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qylon_cli", "server", "start", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        # a local client cannot reset the failed-authentication count with a made-up address
        codes = [
            httpx2.get(
                f"{url}/v1/me",
                headers={"Authorization": f"Bearer {FAKE}", "X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(4)
        ]
        assert codes == [401, 401, 401, 429], codes
        for _ in range(20):
            assert (
                httpx2.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
                == 200
            )
        before = rss_mb(proc.pid)
        sent, answers, hold = [], [], threading.Event()
        threads = [
            threading.Thread(target=slow_upload, args=(port, sent, answers, hold))
            for _ in range(20)
        ]
        for t in threads:
            t.start()
        time.sleep(3)
        during = rss_mb(proc.pid)  # the 20 connections are still open
        hold.set()
        for t in threads:
            t.join(30)
        time.sleep(1)
        after = rss_mb(proc.pid)
        assert during - before < 40, (before, during, after)
        assert after - before < 25, (before, during, after)
        assert set(answers) <= {b"401", b"429", b"closed"} and len(answers) == 20, answers
        assert (
            httpx2.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
    finally:
        proc.terminate()
        proc.wait(20)
