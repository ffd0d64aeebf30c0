"""Requests/s and p50/p99 latency of the team server under load.

    .venv/bin/python benchmarks/api.py [--seconds 10] [--concurrency 32] [--workers 2] [--backends sqlite,postgres]

For each backend, starts `qylon server start --workers N` on a fresh database (SQLite
file; PostgreSQL: a throw-away database and a non-superuser role on 127.0.0.1, dropped
afterwards), seeds 200 clients, then drives GET /v1/clients and PUT /v1/meetings/{id}
(a new 40-segment meeting per request) from --concurrency connections for --seconds each.
The load generator runs on the same machine (asyncio + httpx2), so on a small machine
it competes with the server for CPU. "CPU ms/req" is the CPU time (user + system) the
server's processes spent per request during the row (Linux; from /proc): it moves less
than req/s with other work on the machine, and bounds what the cores can serve.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def database(kind: str, home: Path):
    if kind == "sqlite":
        url = f"sqlite:///{home / 'bench.db'}"
        yield url, url
        return
    from qylon_server.throwaway import throwaway_postgres

    with throwaway_postgres("qylon_bench") as pg:
        yield pg.app_url, pg.admin_url


def server_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by process ``pid`` and its children (the workers), or None
    where /proc cannot tell."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, todo = 0.0, [pid]
    try:
        while todo:
            p = todo.pop()
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    except (OSError, ValueError, IndexError):
        return None
    return total


def meeting(mid: str) -> dict:
    return {
        "id": mid,
        "title": "Benchmark meeting",
        "client": "Client 001",
        "created_at": "2026-11-01T09:00:00Z",
        "duration_s": 600,
        "speakers": [{"id": "SPEAKER_1", "name": "Ana", "talk_time_s": 300}],
        "segments": [
            {
                "start": i * 5.0,
                "end": i * 5.0 + 4.5,
                "speaker": "SPEAKER_1",
                "text": "we agreed to send the revised proposal by friday and review the budget",
            }
            for i in range(40)
        ],
        "action_items": [{"id": "a1", "owner": "Ana", "task": "Send the revised proposal"}],
    }


CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the lean load generator: ``ask(request)``
    sends the request's bytes and returns the response's status and body. It parses only
    what the server's answers need (a status line and Content-Length), so a request costs
    the generator a small fraction of what an HTTP client library costs, and the cores
    are left to the server."""

    def __init__(self) -> None:
        self.buf, self.waiter, self.transport = bytearray(), None, None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if self.waiter and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end])
        length = CONTENT_LENGTH.search(head)
        if length is None:
            self.waiter.set_exception(ValueError("a response without Content-Length"))
            return
        size = int(length[1])
        if len(self.buf) < end + 4 + size:
            return
        body = bytes(self.buf[end + 4 : end + 4 + size])
        del self.buf[: end + 4 + size]
        self.waiter.set_result((int(head[9:12]), body))

    async def ask(self, request: bytes) -> tuple[int, bytes]:
        if self.transport.is_closing():
            raise ConnectionError("the server closed the connection")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


def request_bytes(kind: str, host: str, token: str) -> bytes:
    head = f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
    if kind == "get":
        return f"GET /v1/clients?limit=50 HTTP/1.1\r\n{head}\r\n".encode()
    mid = str(uuid.uuid4())
    body = json.dumps(meeting(mid)).encode()
    return (
        f"PUT /v1/meetings/{mid} HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def drive(
    url: str, token: str, kind: str, seconds: float, concurrency: int, client: str = "lean"
) -> dict:
    """``concurrency`` connections each sending ``kind`` requests one after another for
    ``seconds``: req/s, p50 and p99 latency, errors, and the generator's own CPU time
    per request. ``client``: "lean" (``Connection``) or "httpx2" (the HTTP client a
    Python user would pick, which costs the shared cores several times more)."""
    latencies: list[float] = []
    errors = 0
    statuses: collections.Counter = collections.Counter()
    deadline = time.perf_counter() + seconds
    host = url.split("//", 1)[1]

    async def lean() -> None:
        nonlocal errors
        ip, port = host.rsplit(":", 1)
        loop, conn = asyncio.get_running_loop(), None
        try:
            while time.perf_counter() < deadline:
                if conn is None or conn.transport.is_closing():  # (re)connect
                    _, conn = await loop.create_connection(Connection, ip, int(port))
                request = request_bytes(kind, host, token)
                started = time.perf_counter()
                try:
                    status, body = await conn.ask(request)
                except (ConnectionError, ValueError) as exc:
                    errors += 1
                    statuses[("-", str(exc))] += 1
                    conn.transport.close()
                    continue
                latencies.append(time.perf_counter() - started)
                if status >= 400:
                    errors += 1
                    statuses[(status, body[:120].decode(errors="replace"))] += 1
        finally:
            if conn is not None:
                conn.transport.close()

    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60
    ) as http:

        async def library() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                if kind == "get":
                    r = await http.get("/v1/clients", params={"limit": 50})
                else:
                    mid = str(uuid.uuid4())
                    r = await http.put(f"/v1/meetings/{mid}", json=meeting(mid))
                latencies.append(time.perf_counter() - started)
                if r.status_code >= 400:
                    errors += 1
                    statuses[(r.status_code, r.text[:120])] += 1

        one = lean if client == "lean" else library
        began, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors,
        "statuses": statuses,
        "client_cpu_ms": cpu * 1000 / len(latencies),
    }


def run(coroutine):
    """The load generator's event loop: uvloop's (uvicorn's own) where installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def initialised(home: Path, app_url: str, admin_url: str, **settings: str) -> tuple[dict, str]:
    """A migrated database with an organisation, for ``qylon server start``: (the server's
    environment, with rate limits out of the way and ``settings`` added; the admin's
    token)."""
    env = {
        **os.environ,
        "QYLON_HOME": str(home),
        "QYLON_DATABASE_URL": app_url,
        "QYLON_RATE_LIMIT": "100000000/minute",
        "QYLON_USER_RATE_LIMIT": "100000000/minute",
        "QYLON_SECRET_KEY": "bench-" + "k" * 30,
        **settings,
    }
    if admin_url != app_url:
        env["QYLON_DATABASE_ADMIN_URL"] = admin_url
    q = [sys.executable, "-m", "qylon_cli"]
    subprocess.run([*q, "server", "migrate"], env=env, check=True, capture_output=True)
    init = subprocess.run(
        [*q, "server", "init", "--org", "Bench", "--admin-email", "b@example.com", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return env, json.loads(init.stdout)["data"]["token"]


def start_qylon(kind: str, app_url: str, admin_url: str, home: Path, port: int, workers: int):
    """Qylon's server on a migrated database with 200 clients: (process, token)."""
    env, token = initialised(home, app_url, admin_url)
    q = [sys.executable, "-m", "qylon_cli"]
    start = [*q, "server", "start", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(
        [*start, "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    ready(url, server)
    with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        for i in range(200):
            c.post("/v1/clients", json={"name": f"Client {i:03d}", "tags": ["bench"]})
    return server, token


def start_bare(kind: str, app_url: str, admin_url: str, home: Path, port: int, workers: int):
    """``bare_app.py`` under uvicorn, its tables seeded with 200 clients: (process, token)."""
    import bare_app

    url = admin_url if kind == "postgres" else f"sqlite:///{home / 'bare.db'}"
    token = "bare-" + uuid.uuid4().hex
    bare_app.seed(url, token, 200)
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent)),
            *("bare_app:app", "--port", str(port), "--workers", str(workers)),
            *("--log-level", "warning", "--no-access-log"),
        ],
        env={**os.environ, "BARE_DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ready(f"http://127.0.0.1:{port}", server, path="/docs")
    return server, token


def ready(url: str, server: subprocess.Popen, path: str = "/ready") -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"the server at {url} exited with {server.returncode}")
        try:
            if httpx2.get(url + path, timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"the server at {url} did not answer {path}")


def run_backend(app: str, kind: str, args) -> list[tuple[str, dict]]:
    home = Path(tempfile.mkdtemp(prefix="qylon-bench-"))
    with database(kind, home) as (app_url, admin_url):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        starter = start_qylon if app == "qylon" else start_bare
        server, token = starter(kind, app_url, admin_url, home, port, args.workers)
        try:
            results = []
            for label, kind_ in (("GET /v1/clients", "get"), ("PUT /v1/meetings/{id}", "put")):
                run(drive(url, token, kind_, 1.0, args.concurrency, args.client))  # warm-up
                cpu = server_cpu_s(server.pid)
                r = run(drive(url, token, kind_, args.seconds, args.concurrency, args.client))
                after = server_cpu_s(server.pid)
                r["cpu_ms"] = (
                    (after - cpu) * 1000 / r["requests"] if None not in (cpu, after) else None
                )
                results.append((label, r))
            return results
        finally:
            server.terminate()
            server.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--apps",
        default="qylon,bare",
        help="qylon (the team server) and bare (bare_app.py: FastAPI + SQLAlchemy alone)",
    )
    parser.add_argument(
        "--client",
        choices=("lean", "httpx2"),
        default="lean",
        help="load generator: a minimal HTTP/1.1 client (default) or httpx2",
    )
    args = parser.parse_args()
    print(
        f"{args.concurrency} connections ({args.client} client), {args.seconds:.0f} s per row,"
        f" server --workers {args.workers}"
    )
    print(
        f"{'app':<6} {'backend':<9} {'request':<22} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'requests':>8} {'errors':>6} {'CPU ms/req':>10} {'client':>6} {'load':>5}"
    )
    for kind in args.backends.split(","):
        for app in args.apps.split(","):
            for label, r in run_backend(app, kind, args):
                cpu = f"{r['cpu_ms']:.1f}" if r["cpu_ms"] is not None else "-"
                print(
                    f"{app:<6} {kind:<9} {label:<22} {r['rps']:>6.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['requests']:>8} {r['errors']:>6} {cpu:>10} {r['client_cpu_ms']:>6.1f} {os.getloadavg()[0]:>5.1f}",
                    flush=True,
                )
                for (status, body), n in r["statuses"].most_common(3):
                    print(f"    {n} x {status}: {body}", flush=True)


if __name__ == "__main__":
    main()
