"""`qylon server start --workers N` (worker_sockets.py): the supervisor accepts each
connection and hands it to the ready worker holding the fewest, so connections opened at
once are split evenly, closed ones are made up where they closed, and a killed worker's
share goes to the others."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .harness import free_port

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the hand-off is Linux's"),
]


def _server_side(port: int) -> dict[int, tuple[str, int]]:
    """Socket inode -> (state, remote port) of the server's side of ``port``: state "0A"
    listening, "01" established; the remote port is the client's own."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found[int(fields[9])] = (fields[3], int(fields[2].rsplit(":", 1)[1], 16))
    return found


def _sockets_of(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _workers(pid: int) -> list[int]:
    """The worker processes of the supervisor ``pid`` (multiprocessing's spawned ones, not
    its resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except FileNotFoundError:
                continue
    return found


def _holders(supervisor: int, port: int) -> dict[int, dict]:
    """Each process of the server -> its listening sockets on ``port`` and the client
    ports of the connections it holds."""
    side = _server_side(port)
    held = {}
    for pid in [supervisor, *_workers(supervisor)]:
        try:
            mine = _sockets_of(pid) & set(side)
        except FileNotFoundError:  # a worker that just died
            continue
        held[pid] = {
            "listening": sum(side[i][0] == "0A" for i in mine),
            "clients": {side[i][1] for i in mine if side[i][0] == "01"},
        }
    return held


def _start(qylon_home: Path, port: int, *extra: str) -> subprocess.Popen:
    """The server with two workers, once both have started their app (uvicorn's log)."""
    log = qylon_home / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qylon_cli", "server", "start", "--port", str(port)]
        + ["--workers", "2", *extra],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env={**os.environ, "QYLON_HOME": str(qylon_home)},
    )

    def started() -> bool:
        assert proc.poll() is None, log.read_text()
        return log.read_text().count("Application startup complete") >= 2

    _until(started, "two workers started", timeout=120)
    return proc


def _open(port: int, n: int, wrap=None) -> list[socket.socket]:
    """``n`` connections, opened at once, each answered once and kept open."""
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    if wrap:
        held = [wrap(s) for s in held]
    for s in held:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
    for s in held:
        s.settimeout(30)
        assert s.recv(100).startswith(b"HTTP/1.1 200"), "a connection was not served"
    return held


def _client_port(s: socket.socket) -> int:
    return s.getsockname()[1]


def _until(check, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


def test_connections_go_to_the_worker_holding_fewest_and_outlive_a_killed_worker(qylon, qylon_home):
    assert qylon("server", "migrate").code == 0
    port = free_port()
    proc = _start(qylon_home, port)
    held: list[socket.socket] = []
    try:
        held = _open(port, 32)
        holders = _holders(proc.pid, port)
        assert holders[proc.pid] == {"listening": 1, "clients": set()}, holders  # only accepts
        workers = {pid: h for pid, h in holders.items() if pid != proc.pid}
        assert len(workers) == 2 and all(h["listening"] == 0 for h in workers.values())
        assert sorted(len(h["clients"]) for h in workers.values()) == [16, 16], workers

        # one worker's connections close: the next ones go to it until it holds as many
        first, second = workers
        closed = [s for s in held if _client_port(s) in workers[first]["clients"]]
        for s in closed:
            held.remove(s)
            s.close()
        _until(lambda: not _holders(proc.pid, port)[first]["clients"], "closed on the server")
        time.sleep(0.5)  # the worker's word reaches the supervisor
        fresh = _open(port, 8)
        held += fresh
        holders = _holders(proc.pid, port)
        assert {_client_port(s) for s in fresh} <= holders[first]["clients"], holders
        assert len(holders[second]["clients"]) == 16

        # a worker killed: every new connection is served, by the other until its
        # replacement is ready
        os.kill(second, signal.SIGKILL)
        more = _open(port, 8)
        held += more
        holders = _holders(proc.pid, port)
        assert second not in holders
        served_by = {
            pid for pid, h in holders.items() for s in more if _client_port(s) in h["clients"]
        }
        assert served_by and proc.pid not in served_by, holders
    finally:
        for s in held:
            s.close()
        proc.terminate()
        assert proc.wait(30) == 0


@pytest.mark.slow
def test_two_workers_serve_tls(qylon, qylon_home, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key)]
        + ["-out", str(cert), "-subj", "/CN=127.0.0.1", "-days", "1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    assert qylon("server", "migrate").code == 0
    port = free_port()
    proc = _start(qylon_home, port, "--cert", str(cert), "--key", str(key))
    trust = ssl.create_default_context(cafile=str(cert))
    held: list[socket.socket] = []
    try:
        held = _open(port, 6, wrap=lambda s: trust.wrap_socket(s, server_hostname="127.0.0.1"))
        workers = {p: h for p, h in _holders(proc.pid, port).items() if p != proc.pid}
        assert sorted(len(h["clients"]) for h in workers.values()) == [3, 3], workers
    finally:
        for s in held:
            s.close()
        proc.terminate()
        assert proc.wait(30) == 0
