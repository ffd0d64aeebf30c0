"""`qylon server start --workers N` gives each worker a listening socket of its own
(worker_sockets.py): connections opened at once are spread between the workers instead
of landing mostly on the one that woke first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .harness import free_port, wait_healthy

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads on Linux"
    ),
]


def _tcp(port: int) -> dict[int, str]:
    """Socket inode -> state ("0A" listening, "01" established) of this port's server side."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found[int(fields[9])] = fields[3]
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


def _children(pid: int) -> list[int]:
    return [
        int(c)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for c in (task / "children").read_text().split()
    ]


def test_two_workers_listen_on_sockets_of_their_own_and_share_the_connections(qylon, qylon_home):
    assert qylon("server", "migrate").code == 0
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qylon_cli",
            "server",
            "start",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "QYLON_HOME": str(qylon_home)},
    )
    held: list[socket.socket] = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        time.sleep(1)  # both workers listening
        for _ in range(32):  # opened at once, kept open
            held.append(socket.create_connection(("127.0.0.1", port)))
        for s in held:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        for s in held:
            assert s.recv(100).startswith(b"HTTP/1.1 200"), "a connection was not served"
        states = _tcp(port)
        workers = {}
        for pid in _children(proc.pid):
            mine = _sockets_of(pid) & set(states)
            if mine:
                workers[pid] = (
                    {i for i in mine if states[i] == "0A"},
                    sum(states[i] == "01" for i in mine),
                )
        assert len(workers) == 2, workers
        (listen_a, served_a), (listen_b, served_b) = workers.values()
        assert len(listen_a) == len(listen_b) == 1 and listen_a != listen_b, workers
        assert served_a + served_b == 32 and min(served_a, served_b) >= 4, workers
    finally:
        for s in held:
            s.close()
        proc.terminate()
        proc.wait(20)
