"""Durable workflows on the team server: runs/s and steps/s, and recovery after SIGKILL.

    .venv/bin/python benchmarks/workflows.py [--runs 300] [--pending 1000] [--backends sqlite,postgres]

For each backend, on a fresh database (SQLite file; PostgreSQL: a throw-away database and
a non-superuser role, dropped afterwards), starts `qylon server start --workers 1` (one
process that serves and runs workflows, executor `server`) and measures:

- starting runs: --runs runs of a 3-step workflow (three `notify` steps: each one
  database transaction with an audit event and the run's record, plus DBOS's
  checkpoint) started over the API from 16 connections, by a server that only queues
  them (`--workers 2`): runs started per second;
- running them: the server is started again with `--workers 1`, which runs them:
  runs/s and steps/s from its /ready until the last run completed (DBOS starts queued
  runs before /ready: those completed by then are left out, and shown);
- CPU ms/step: the server process's CPU time (user + system, from /proc) while it ran
  them, per step: what a step costs, less sensitive to other load on the machine than
  the rates;
- recovery: --pending runs of a 1-step workflow are queued, a server that runs them is
  started and killed with SIGKILL a second later (a few in flight, the rest queued: the
  column says how many were unfinished), started again under the same executor id, and
  timed from the restart until every run has completed.

Beside them, the engine alone: DBOS Transact running the same number of runs of a
workflow of three no-op steps on the same kind of database, in one process (what the
interpreter, tenancy, audit and the HTTP API add is the difference).

The load generator runs on the same machine, so on a small machine it competes with the
server for CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import database, free_port  # the API benchmark's throw-away databases

THREE_STEPS = """
name: bench-three
version: 1
input:
  n: {type: integer, required: true}
steps:
  - name: one
    action: notify
    with: {to: "ops@example.com", subject: "run {{ input.n }}: one"}
  - name: two
    action: notify
    with: {to: "ops@example.com", subject: "run {{ input.n }}: two"}
  - name: three
    action: notify
    with: {to: "ops@example.com", subject: "run {{ input.n }}: three"}
"""

ONE_STEP = """
name: bench-one
version: 1
input:
  n: {type: integer, required: true}
steps:
  - name: one
    action: notify
    with: {to: "ops@example.com", subject: "run {{ input.n }}"}
"""


class Server:
    def __init__(self, kind: str):
        self.kind = kind
        self.home = Path(tempfile.mkdtemp(prefix="qylon-bench-wf-"))
        self.proc: subprocess.Popen | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def setup(self, app_url: str, admin_url: str) -> str:
        self.env = {
            **os.environ,
            "QYLON_HOME": str(self.home),
            "QYLON_DATABASE_URL": app_url,
            "QYLON_RATE_LIMIT": "100000000/minute",
            "QYLON_USER_RATE_LIMIT": "100000000/minute",
            "QYLON_SECRET_KEY": "bench-" + "k" * 30,
        }
        self.env.pop("QYLON_WORKFLOW_EXECUTOR", None)
        if admin_url != app_url:
            self.env["QYLON_DATABASE_ADMIN_URL"] = admin_url
        q = [sys.executable, "-m", "qylon_cli"]
        subprocess.run([*q, "server", "migrate"], env=self.env, check=True, capture_output=True)
        init = subprocess.run(
            [*q, "server", "init", "--org", "Bench", "--admin-email", "b@example.com", "--json"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(init.stdout)["data"]["token"]

    def start(self, workers: int = 1) -> float:
        """Start the server; the time it answered /ready."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qylon_cli", "server", "start", "--port", str(self.port)]
            + ["--workers", str(workers), "--log-level", "warning"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(600):
            try:
                if httpx2.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return time.perf_counter()
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def cpu_s(self) -> float:
        """The server process's CPU seconds so far (user + system)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


async def start_runs(url: str, token: str, name: str, count: int) -> float:
    """Start ``count`` runs from 16 connections; the seconds it took."""
    limits = httpx2.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx2.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=120
    ) as client:
        queue = list(range(count))
        began = time.perf_counter()

        async def one() -> None:
            while queue:
                n = queue.pop()
                r = await client.post(f"/v1/workflows/{name}/runs", json={"input": {"n": n}})
                r.raise_for_status()

        await asyncio.gather(*(one() for _ in range(16)))
        return time.perf_counter() - began


def count(c: httpx2.Client, name: str, status: str) -> int:
    r = c.get("/v1/workflow-runs", params={"status": status, "name": name, "limit": 1})
    r.raise_for_status()
    return r.json()["total"]


def wait_done(c: httpx2.Client, name: str, total: int, timeout: float = 900) -> float:
    deadline = time.perf_counter() + timeout
    while True:
        done = count(c, name, "completed")
        if done >= total:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{done} of {total} runs of {name} completed in {timeout:.0f}s")
        time.sleep(0.1)


def raw_dbos(kind: str, runs: int) -> None:
    """DBOS alone (in this process): ``runs`` runs of three no-op steps; prints runs/s."""
    from dbos import DBOS, DBOSClient, DBOSPortableJSONSerializer
    from sqlalchemy import create_engine, event

    home = Path(tempfile.mkdtemp(prefix="qylon-bench-dbos-"))
    with database(kind, home) as (_app_url, admin_url):
        engine = create_engine(admin_url)
        if kind == "sqlite":  # the server's own settings

            @event.listens_for(engine, "connect")
            def _pragmas(conn, _record):
                for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
                    conn.execute(f"PRAGMA {pragma}")

        serializer = DBOSPortableJSONSerializer()
        DBOS(
            config={
                "name": "raw",
                "system_database_url": admin_url,
                "system_database_engine": engine,
                "executor_id": "raw",
                "application_version": "v1",
                "serializer": serializer,
                "log_level": "WARNING",
            }
        )

        @DBOS.workflow(name="three")
        def three(n: int) -> int:
            for k in range(3):
                DBOS.run_step({"name": f"s{k}"}, lambda: n)
            return n

        DBOS.launch()
        DBOS.register_queue("q", worker_concurrency=16, polling_interval_sec=0.1)
        client = DBOSClient(
            system_database_engine=engine, serializer=serializer, application_name="raw"
        )
        began = time.perf_counter()  # queueing overlaps running (quick next to it)
        for n in range(runs):
            client.enqueue({"queue_name": "q", "workflow_name": "three", "app_version": "v1"}, n)
        while (
            len(DBOS.list_workflows(status="SUCCESS", load_input=False, load_output=False)) < runs
        ):
            time.sleep(0.05)
        print(json.dumps({"runs_s": runs / (time.perf_counter() - began)}))
        DBOS.destroy()
        engine.dispose()


def run_backend(kind: str, args) -> dict:
    server = Server(kind)
    with database(kind, server.home) as (app_url, admin_url):
        token = server.setup(app_url, admin_url)
        server.start(workers=2)  # queues runs, runs none
        out: dict = {}
        try:
            c = httpx2.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            for text in (THREE_STEPS, ONE_STEP):
                c.post("/v1/workflows", json={"text": text}).raise_for_status()
            out["enqueue_s"] = asyncio.run(start_runs(server.url, token, "bench-three", args.runs))
            server.stop()
            c.close()
            began = server.start(workers=1)
            cpu = server.cpu_s()
            c = httpx2.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            # DBOS starts queued runs before the server answers /ready: those that ended
            # by then are left out of the count, as their time and CPU are
            early = count(c, "bench-three", "completed")
            ended = wait_done(c, "bench-three", args.runs)
            out["done_at_ready"] = early
            out["runs_s"] = (args.runs - early) / (ended - began)
            out["steps_s"] = 3 * out["runs_s"]
            out["cpu_ms_step"] = 1000 * (server.cpu_s() - cpu) / (3 * (args.runs - early))

            c.close()
            server.stop()
            server.start(workers=2)  # queue the pending runs without running them
            asyncio.run(start_runs(server.url, token, "bench-one", args.pending))
            server.stop()
            server.start(workers=1)
            time.sleep(1.0)  # some runs in flight, most still queued
            server.kill()
            with httpx2.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as probe:
                server.start(workers=2)  # to count, without running any
                unfinished = args.pending - count(probe, "bench-one", "completed")
                server.stop()
            restarted = time.perf_counter()
            up = server.start()
            c = httpx2.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            done = wait_done(c, "bench-one", args.pending)
            out["pending_at_kill"] = unfinished
            out["restart_s"] = up - restarted
            out["recovery_s"] = done - restarted
            c.close()
        finally:
            server.stop()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--pending", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--raw-dbos", metavar="KIND", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_dbos:  # a process of its own: DBOS is one per process
        raw_dbos(args.raw_dbos, args.runs)
        return
    print(f"{args.runs} runs of a 3-step workflow; {args.pending} runs pending at a SIGKILL")
    print(
        f"{'backend':<10} {'runs/s':>8} {'steps/s':>8} {'started/s':>14} "
        f"{'unfinished at kill':>19} {'restart s':>10} {'all done s':>11} {'CPU ms/step':>12} "
        f"{'done at /ready':>15}"
    )
    for kind in args.backends.split(","):
        r = run_backend(kind, args)
        print(
            f"{kind:<10} {r['runs_s']:>8.1f} {r['steps_s']:>8.1f} "
            f"{args.runs / r['enqueue_s']:>14.0f} {r['pending_at_kill']:>19} "
            f"{r['restart_s']:>10.1f} {r['recovery_s']:>11.1f} {r['cpu_ms_step']:>12.2f} "
            f"{r['done_at_ready']:>15}",
            flush=True,
        )
        raw = subprocess.run(
            [sys.executable, __file__, "--raw-dbos", kind, "--runs", str(args.runs)],
            check=True,
            capture_output=True,
            text=True,
        )
        runs_s = json.loads(raw.stdout.strip().splitlines()[-1])["runs_s"]
        print(f"{'  DBOS alone, no-op steps':<28} {runs_s:>8.1f} {3 * runs_s:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
