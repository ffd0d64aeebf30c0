"""What the workflow tests share: following a run to its end, a real server in a
subprocess (`qylon server start`), and reading its database directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select

from .harness import PEPPER, free_port, wait_healthy

END = ("completed", "compensated", "cancelled", "timed_out", "failed")


def wait_for(api, token, run_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        r = api.get(f"/v1/workflow-runs/{run_id}", token)
        assert r.status_code == 200, r.text
        run = r.json()
        if run["status"] in END:
            return run
        assert time.monotonic() < deadline, stuck(api, run)
        time.sleep(0.2)


def stuck(api, run: dict) -> str:
    """What a test that waited too long for ``run`` says: the run whole (with DBOS's record
    of it), and on PostgreSQL the transactions open in its database, oldest first (one
    holding the events table's lock would hold up every step)."""
    text = json.dumps(run, default=str)
    backend = getattr(api, "backend", None)
    if backend is None or not backend.admin_url.startswith("postgresql"):
        return text
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    engine = create_engine(backend.admin_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sql(
                    "SELECT pid, state, now() - xact_start AS open_for, wait_event_type, "
                    "left(query, 200) AS query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND xact_start IS NOT NULL "
                    "AND pid <> pg_backend_pid() ORDER BY xact_start"
                )
            ).all()
    finally:
        engine.dispose()
    return text + "\nopen transactions:\n" + "\n".join(str(tuple(r)) for r in rows)


def start(api, org, name: str, inputs: dict | None = None) -> str:
    r = api.post(f"/v1/workflows/{name}/runs", org.token, json={"input": inputs or {}})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def steps(run: dict) -> dict:
    return {s["name"]: s for s in run["steps"]}


def _serve(url: str, port: int, **extra: str):
    env = {**os.environ, "QYLON_DATABASE_URL": url, "QYLON_SECRET_KEY": PEPPER, **extra}
    env.pop("QYLON_WORKFLOW_EXECUTOR", None)  # `start` with one worker: executor "server"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qylon_cli",
            "server",
            "start",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def _up(api) -> None:
    wait_healthy(str(api.http.base_url).rstrip("/"))


def _steps_when(api, token, run_id, test, timeout=60) -> tuple[dict, float]:
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/v1/workflow-runs/{run_id}", token).json()
        steps = {s["name"]: s for s in run["steps"]}
        if test(steps):
            return steps, time.monotonic()
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def api_status(backend, run_id: str) -> str:
    from qylon_server.db import Database
    from qylon_server.models import FlowRun

    db = Database(backend.admin_url)
    try:
        with db.session(None) as s:
            return s.execute(
                select(FlowRun.status)
                .where(FlowRun.id == run_id)
                .execution_options(skip_tenant_filter=True)
            ).scalar_one()
    finally:
        db.dispose()


def _audit_actions(backend, org_id: str) -> list[str]:
    from qylon_server.db import Database
    from qylon_server.models import AuditEvent

    db = Database(backend.admin_url)
    try:
        with db.session(org_id) as s:
            return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    finally:
        db.dispose()


# -- a loopback service that deduplicates by Idempotency-Key, as payment APIs do -------------


class Service:
    """Counts requests, effects (once per Idempotency-Key) and the most in flight at once.
    ``answering`` cleared: a request to /work is held in flight until it is set again."""

    def __init__(self, work_s: float = 0.0):
        self.work_s = work_s
        self.answering = threading.Event()
        self.answering.set()
        self.lock = threading.Condition()
        self.requests: dict[str, int] = {}
        self.effects: dict[str, int] = {}
        self.answers: dict[str, bytes] = {}
        self.in_flight: set[str] = set()
        self.peak = 0
        self.seen: list[dict] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: bytes, kind="application/json", extra=()):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):  # a SIGKILLed worker
                        pass

            def do_GET(self):
                self._route()

            def do_POST(self):
                self._route()

            def do_HEAD(self):
                self._route()

            def _route(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                service.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                path = self.path.split("?")[0]
                if path == "/work":
                    return self._work(self.headers.get("Idempotency-Key") or "")
                if path.startswith("/status/"):
                    code = int(path.rsplit("/", 1)[1])
                    return self._answer(code, json.dumps({"status": code}).encode())
                if path == "/slow":
                    time.sleep(2)
                    return self._answer(200, b"{}")
                if path == "/redirect":
                    return self._answer(302, b"", extra=[("Location", "http://10.0.0.1/")])
                if path == "/big":
                    return self._answer(200, b"x" * 100_000, kind="text/plain")
                return self._answer(
                    201, json.dumps({"ok": True, "path": path}).encode(), extra=[("ETag", '"v1"')]
                )

            def _work(self, key: str):
                with service.lock:
                    service.requests[key] = service.requests.get(key, 0) + 1
                    while key in service.in_flight:  # the same key again: wait for the first
                        service.lock.wait()
                    if key in service.answers:  # done before: the stored answer, no effect
                        answer = service.answers[key]
                        return self._answer(200, answer)
                    service.in_flight.add(key)
                    service.peak = max(service.peak, len(service.in_flight))
                time.sleep(service.work_s)
                service.answering.wait()
                with service.lock:
                    service.effects[key] = service.effects.get(key, 0) + 1
                    answer = json.dumps({"key": key, "effect": service.effects[key]}).encode()
                    service.answers[key] = answer
                    service.in_flight.discard(key)
                    service.lock.notify_all()
                self._answer(200, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )  # shutdown() waits a poll (0.5 s by default)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
