"""Run schemathesis against a real Qylon server: no 5xx, no response that breaks the schema.

    .venv/bin/python scripts/api_fuzz.py [--max-time 45] [--backends sqlite,postgres]

For each backend, starts `qylon server start` on a free port with a fresh database
(SQLite file; PostgreSQL: a throw-away database on 127.0.0.1 and a non-superuser role,
so row-level security applies, both dropped afterwards), creates an organisation,
seeds a client and a meeting, and fuzzes every operation in /openapi.json as the
owner (read, write and admin scopes) for --max-time seconds. The fuzzer revokes and
rotates keys it finds, its own included: scripts/fuzz_auth.py gives it a fresh owner
key whenever a request answers 401, so admin routes are fuzzed for the whole run.
The backends run at the same time (the fuzzer waits on the server more than it
computes), each report printed when it is done. `make test` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2

BIN = Path(sys.executable).parent
AUTH_HOOKS = Path(__file__).with_name("fuzz_auth.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qylon(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qylon_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


@contextmanager
def database(kind: str):
    """Environment variables naming a fresh database of this kind."""
    if kind == "sqlite":
        yield {}
        return
    from qylon_server.throwaway import throwaway_postgres

    with throwaway_postgres("qylon_fuzz") as pg:
        yield {"QYLON_DATABASE_URL": pg.app_url, "QYLON_DATABASE_ADMIN_URL": pg.admin_url}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-time", type=int, default=45, help="Seconds of fuzzing per backend (default 45)."
    )
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    kinds = args.backends.split(",")
    with ThreadPoolExecutor(len(kinds)) as pool:
        runs = [pool.submit(fuzz_on, kind, args) for kind in kinds]
        worst = 0
        for kind, run in zip(kinds, runs, strict=True):
            code, report = run.result()
            print(f"== schemathesis against the server on {kind}", file=sys.stderr)
            print(report, file=sys.stderr, flush=True)
            worst = max(worst, code)
    return worst


def fuzz_on(kind: str, args) -> tuple[int, str]:
    with database(kind) as db_env:
        return fuzz(args, db_env)


@contextmanager
def server(db_env: dict, prefix: str):
    """A migrated database with one organisation and `qylon server start` on a free port:
    yields (url, what `qylon server init --json` said, the server's environment, its log file)."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        **os.environ,
        "QYLON_HOME": str(home),
        "QYLON_RATE_LIMIT": "1000000/minute",
        "QYLON_USER_RATE_LIMIT": "1000000/minute",
        "QYLON_AUTH_FAILURE_LIMIT": "1000000/minute",
        "NO_COLOR": "1",
        **db_env,
    }
    qylon("server", "migrate", env=env)
    init = json.loads(
        qylon(
            "server",
            "init",
            "--org",
            "Check",
            "--admin-email",
            "owner@example.com",
            "--another",
            "--json",
            env=env,
        ).stdout
    )["data"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (
        home / "server.log"
    )  # a file, not a pipe nobody reads: a chatty server must never block on it
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qylon_cli",
                "server",
                "start",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        for _ in range(200):
            try:
                httpx2.get(f"{url}/health", timeout=1)
                break
            except httpx2.TransportError:
                time.sleep(0.05)
        yield url, init, env, log
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def fuzz(args, db_env: dict) -> tuple[int, str]:
    """Fuzz a fresh server on this database: (exit code, schemathesis's report)."""
    with server(db_env, "qylon-fuzz-") as (url, init, env, log):
        headers = {"Authorization": f"Bearer {init['token']}"}
        httpx2.post(f"{url}/v1/clients", json={"name": "Seed"}, headers=headers)
        mid = str(uuid.uuid4())
        httpx2.put(
            f"{url}/v1/meetings/{mid}",
            headers=headers,
            json={
                "id": mid,
                "title": "Seed",
                "created_at": "2026-11-01T09:00:00Z",
                "action_items": [{"id": "a1", "task": "Seed task"}],
            },
        )
        # one worker: with two threads, CPython 3.11 compiling code concurrently inside
        # schemathesis once failed the run ("AST constructor recursion depth mismatch")
        command = [
            str(BIN / "schemathesis"),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-time",
            str(args.max_time),
            "--max-examples",
            str(args.max_examples),
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
            "--suppress-health-check",
            "all",
            "--no-color",
        ]
        hooks = {
            "SCHEMATHESIS_HOOKS": str(AUTH_HOOKS),
            "QYLON_FUZZ_ORG_ID": init["organisation"]["id"],
            "QYLON_FUZZ_USER_ID": init["user"]["id"],
        }
        result = subprocess.run(
            command,
            env={**env, **hooks},
            cwd=env["QYLON_HOME"],  # keeps its example database out of the repository
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        report = "$ " + " ".join(command) + "\n" + result.stdout
        if result.returncode:
            report += f"\n-- the server's log ({log}), last lines:\n" + "\n".join(
                log.read_text().splitlines()[-40:]
            )
        return result.returncode, report


if __name__ == "__main__":
    sys.exit(main())
