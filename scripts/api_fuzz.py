"""Run schemathesis against a real Qylon server: no 5xx, no response that breaks the schema.

    .venv/bin/python scripts/api_fuzz.py [--max-time 45] [--backends sqlite,postgres]

For each backend, starts `qylon server start` on a free port with a fresh database
(SQLite file; PostgreSQL: a throw-away database on 127.0.0.1 and a non-superuser role,
so row-level security applies, both dropped afterwards), creates an organisation,
seeds a client and a meeting, and fuzzes every operation in /openapi.json with the
owner's key for --max-time seconds. `make test` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx2

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qylon(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qylon_cli", *args], env=env, capture_output=True, text=True, check=True)


@contextmanager
def database(kind: str):
    """Environment variables naming a fresh database of this kind."""
    if kind == "sqlite":
        yield {}
        return
    import psycopg

    tag = secrets.token_hex(4)
    name, role = f"qylon_fuzz_{tag}", f"qylon_fuzz_app_{tag}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
        conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS")
    try:
        yield {"QYLON_DATABASE_URL": f"postgresql://{role}@127.0.0.1:5432/{name}",
               "QYLON_DATABASE_ADMIN_URL": f"postgresql://postgres@127.0.0.1:5432/{name}"}
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=int, default=45, help="Seconds of fuzzing per backend (default 45).")
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    worst = 0
    for kind in args.backends.split(","):
        print(f"== schemathesis against the server on {kind}", file=sys.stderr, flush=True)
        with database(kind) as db_env:
            worst = max(worst, fuzz(args, db_env))
    return worst


@contextmanager
def server(db_env: dict, prefix: str):
    """A migrated database with one organisation and `qylon server start` on a free port:
    yields (url, the owner's key, QYLON_HOME, the server's log file)."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    env = {**os.environ, "QYLON_HOME": str(home), "QYLON_RATE_LIMIT": "1000000/minute",
           "QYLON_AUTH_FAILURE_LIMIT": "1000000/minute", "NO_COLOR": "1", **db_env}
    qylon("server", "migrate", env=env)
    token = json.loads(qylon("server", "init", "--org", "Check", "--admin-email", "owner@example.com", "--another",
                             "--json", env=env).stdout)["data"]["token"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "qylon_cli", "server", "start", "--port", str(port),
                                "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        for _ in range(200):
            try:
                httpx2.get(f"{url}/health", timeout=1)
                break
            except httpx2.TransportError:
                time.sleep(0.05)
        yield url, token, home, log
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def fuzz(args, db_env: dict) -> int:
    with server(db_env, "qylon-fuzz-") as (url, token, home, _log):
        headers = {"Authorization": f"Bearer {token}"}
        httpx2.post(f"{url}/v1/clients", json={"name": "Seed"}, headers=headers)
        mid = str(uuid.uuid4())
        httpx2.put(f"{url}/v1/meetings/{mid}", headers=headers, json={
            "id": mid, "title": "Seed", "created_at": "2026-11-01T09:00:00Z",
            "action_items": [{"id": "a1", "task": "Seed task"}]})
        # one worker: with two threads, CPython 3.11 compiling code concurrently inside
        # schemathesis once failed the run ("AST constructor recursion depth mismatch")
        command = [
            str(BIN / "schemathesis"), "run", f"{url}/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--checks", "not_a_server_error,response_schema_conformance",
            "--max-time", str(args.max_time), "--max-examples", str(args.max_examples),
            "--phases", "examples,coverage,fuzzing", "--workers", "1",
            "--suppress-health-check", "all", "--no-color",
        ]
        print("$ " + " ".join(c if "Bearer" not in c else "Authorization: Bearer qyl_live_…" for c in command), file=sys.stderr)
        result = subprocess.run(command, cwd=home)  # its example database stays out of the repository
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
