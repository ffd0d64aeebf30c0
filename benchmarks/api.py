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


async def drive(url: str, token: str, kind: str, seconds: float, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    statuses: collections.Counter = collections.Counter()
    deadline = time.perf_counter() + seconds
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60
    ) as client:

        async def one() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                if kind == "get":
                    r = await client.get("/v1/clients", params={"limit": 50})
                else:
                    mid = str(uuid.uuid4())
                    r = await client.put(f"/v1/meetings/{mid}", json=meeting(mid))
                latencies.append(time.perf_counter() - started)
                if r.status_code >= 400:
                    errors += 1
                    statuses[(r.status_code, r.text[:120])] += 1

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors,
        "statuses": statuses,
    }


def run_backend(kind: str, args) -> list[tuple[str, dict]]:
    home = Path(tempfile.mkdtemp(prefix="qylon-bench-"))
    with database(kind, home) as (app_url, admin_url):
        env = {
            **os.environ,
            "QYLON_HOME": str(home),
            "QYLON_DATABASE_URL": app_url,
            "QYLON_RATE_LIMIT": "100000000/minute",
            "QYLON_USER_RATE_LIMIT": "100000000/minute",
            "QYLON_SECRET_KEY": "bench-" + "k" * 30,
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
        token = json.loads(init.stdout)["data"]["token"]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                *q,
                "server",
                "start",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                try:
                    if httpx2.get(f"{url}/ready", timeout=1).status_code == 200:
                        break
                except httpx2.TransportError:
                    time.sleep(0.05)
            with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
                for i in range(200):
                    c.post("/v1/clients", json={"name": f"Client {i:03d}", "tags": ["bench"]})
            results = []
            for label, kind_ in (("GET /v1/clients", "get"), ("PUT /v1/meetings/{id}", "put")):
                asyncio.run(drive(url, token, kind_, 1.0, args.concurrency))  # warm-up
                cpu = server_cpu_s(server.pid)
                r = asyncio.run(drive(url, token, kind_, args.seconds, args.concurrency))
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
    args = parser.parse_args()
    print(
        f"{args.concurrency} connections, {args.seconds:.0f} s per row, server --workers {args.workers}"
    )
    print(
        f"{'backend':<10} {'request':<24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7} {'CPU ms/req':>10} {'load':>5}"
    )
    for kind in args.backends.split(","):
        for label, r in run_backend(kind, args):
            cpu = f"{r['cpu_ms']:.1f}" if r["cpu_ms"] is not None else "-"
            print(
                f"{kind:<10} {label:<24} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['requests']:>9} {r['errors']:>7} {cpu:>10} {os.getloadavg()[0]:>5.1f}",
                flush=True,
            )
            for (status, body), n in r["statuses"].most_common(3):
                print(f"    {n} x {status}: {body}", flush=True)


if __name__ == "__main__":
    main()
