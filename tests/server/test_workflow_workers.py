"""Processes that run workflows (`qylon server worker`), the queue's limits across
processes, and the built-in `http.request` action against a real loopback HTTP server.

The multi-process proof runs real subprocesses on PostgreSQL (the app's non-superuser
role, under row-level security): two API servers that only queue runs (`qylon server
start --no-workflows` and `--workers 2`) and `qylon server worker` processes share the queue, and the work itself (a loopback
HTTP server that deduplicates by Idempotency-Key) measures how many run at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from qylon_server.config import ServerSettings
from qylon_server.db import Database
from qylon_server.workflows import actions, engine
from qylon_server.workflows.http import check_url, parse_allow
from sqlalchemy import text

from ..conftest import run_qylon
from .harness import (
    PEPPER,
    Api,
    free_port,
    new_org,
    postgres_backend,
    running,
    sqlite_backend,
)

# -- a loopback service that deduplicates by Idempotency-Key, as payment APIs do -------------


class Service:
    """Counts requests, effects (once per Idempotency-Key) and the most in flight at once."""

    def __init__(self, work_s: float = 0.0):
        self.work_s = work_s
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
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    with Service() as s:
        yield s


def _call(args: dict, allow: str, monkeypatch, step: str = "call", deadline=None) -> dict:
    monkeypatch.setattr(engine.EngineState, "settings", ServerSettings(workflow_http_allow=allow))
    ctx = actions.ActionContext(None, None, "org-1", "run-1", step, deadline)
    return actions.call("http.request", ctx, args)


def _fails(args: dict, allow: str, monkeypatch, **kw) -> actions.ActionError:
    with pytest.raises(actions.ActionError) as caught:
        _call(args, allow, monkeypatch, **kw)
    return caught.value


# -- the allow-list -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "url", "ok"),
    [
        ("api.example.com", "https://api.example.com/v1/x", True),
        ("api.example.com", "http://API.example.com:8080/", True),
        ("api.example.com", "https://api.example.com.evil.net/", False),
        ("api.example.com", "https://evil.net/?api.example.com", False),
        ("api.example.com:8443", "https://api.example.com/", False),
        ("api.example.com:8443", "https://api.example.com:8443/", True),
        ("*.example.com", "https://a.b.example.com/", True),
        ("*.example.com", "https://example.com/", False),
        ("*.example.com", "https://badexample.com/", False),
        ("https://hooks.example.com/crm/", "https://hooks.example.com/crm/notes", True),
        ("https://hooks.example.com/crm", "https://hooks.example.com/crm", True),
        ("https://hooks.example.com/crm", "https://hooks.example.com/crmx", False),
        ("https://hooks.example.com/crm", "http://hooks.example.com/crm/x", False),
        ("https://hooks.example.com/crm", "https://hooks.example.com:444/crm/x", False),
        ("https://hooks.example.com/crm", "https://hooks.example.com/crm/../admin", False),
        ("https://hooks.example.com/crm", "https://hooks.example.com/crm/%2e%2e/admin", False),
        ("a.example, b.example", "https://b.example/", True),
        ("127.0.0.1:9", "http://169.254.169.254/latest/meta-data", False),
    ],
)
def test_the_allow_list_lets_through_only_what_it_names(allow, url, ok):
    from qylon_server.workflows.http import HttpError

    if ok:
        check_url(url, allow)
    else:
        with pytest.raises(HttpError) as caught:
            check_url(url, allow)
        assert caught.value.code in ("not_allowed", "invalid_input")


@pytest.mark.parametrize(
    "entry", ["hooks.example.com/crm", "ftp://h/", "https://u:p@h/", "https://h/?q=1", "a*.b.c"]
)
def test_a_bad_allow_list_entry_is_named(entry):
    with pytest.raises(ValueError, match="QYLON_WORKFLOW_HTTP_ALLOW"):
        parse_allow(entry)


def test_a_bad_allow_list_entry_stops_the_server_and_the_step(monkeypatch):
    bad = "hooks.example.com/crm"
    for command in (["worker", "--id", "w1"], ["start"]):
        done = run_qylon("server", *command, env={"QYLON_WORKFLOW_HTTP_ALLOW": bad})
        assert done.code == 3 and "QYLON_WORKFLOW_HTTP_ALLOW" in done.stderr, done.stderr
    error = _fails({"url": "https://hooks.example.com/crm"}, bad, monkeypatch)
    assert error.code == "not_allowed" and bad in error.message


def test_with_no_allow_list_every_http_step_fails_naming_the_setting(service, monkeypatch):
    error = _fails({"url": f"{service.url}/x"}, "", monkeypatch)
    assert error.code == "not_allowed"
    assert "QYLON_WORKFLOW_HTTP_ALLOW" in error.message
    assert service.seen == []  # nothing was sent
    other = _fails(
        {"url": "http://169.254.169.254/latest"}, f"127.0.0.1:{service.port}", monkeypatch
    )
    assert other.code == "not_allowed" and "169.254.169.254" in other.message


# -- the action -----------------------------------------------------------------------------


def test_http_request_sends_the_idempotency_key_and_returns_the_answer(service, monkeypatch):
    allow = f"127.0.0.1:{service.port}"
    out = _call(
        {
            "method": "post",
            "url": f"{service.url}/things?x=1",
            "headers": {"X-Trace": "abc"},
            "json": {"name": "Ana", "n": 2},
        },
        allow,
        monkeypatch,
        step="create",
    )
    assert out["status"] == 201
    assert out["json"] == {"ok": True, "path": "/things"}
    assert out["headers"]["etag"] == '"v1"' and out["headers"]["content-type"] == "application/json"
    sent = service.seen[-1]
    assert sent["method"] == "POST"
    assert sent["headers"]["Idempotency-Key"] == "run-1.create"
    assert sent["headers"]["X-Trace"] == "abc"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert json.loads(sent["body"]) == {"name": "Ana", "n": 2}
    again = _call({"url": f"{service.url}/things"}, allow, monkeypatch, step="create")
    assert service.seen[-1]["headers"]["Idempotency-Key"] == "run-1.create"  # stable
    assert again["status"] == 201
    _call(
        {"url": f"{service.url}/x", "body": "plain"}, allow, monkeypatch, step="create.compensate"
    )
    assert service.seen[-1]["headers"]["Idempotency-Key"] == "run-1.create.compensate"
    assert service.seen[-1]["body"] == b"plain"


def test_http_errors_are_typed_for_retry_on(service, monkeypatch):
    allow = f"http://127.0.0.1:{service.port}/"
    client = _fails({"url": f"{service.url}/status/404"}, allow, monkeypatch)
    assert client.code == "http_error" and "HTTP 404" in client.message
    for status in (500, 503, 429):
        server = _fails({"url": f"{service.url}/status/{status}"}, allow, monkeypatch)
        assert server.code == "unavailable" and f"HTTP {status}" in server.message
    assert (
        _call({"url": f"{service.url}/status/404", "expect": [404]}, allow, monkeypatch)["status"]
        == 404
    )
    wrong = _fails({"url": f"{service.url}/status/200", "expect": [201]}, allow, monkeypatch)
    assert wrong.code == "http_error"
    redirect = _fails({"url": f"{service.url}/redirect"}, allow, monkeypatch)
    assert redirect.code == "http_error" and "302" in redirect.message  # not followed
    assert not any(s["path"].startswith("http://10.") for s in service.seen)
    timeout = _fails({"url": f"{service.url}/slow"}, allow, monkeypatch, deadline=time.time() + 0.5)
    assert timeout.code == "unavailable" and "no answer" in timeout.message
    closed = free_port()
    refused = _fails({"url": f"http://127.0.0.1:{closed}/"}, f"127.0.0.1:{closed}", monkeypatch)
    assert refused.code == "unavailable"


def test_http_request_caps_the_output_and_checks_its_parameters(service, monkeypatch):
    allow = f"127.0.0.1:{service.port}"
    big = _call({"url": f"{service.url}/big"}, allow, monkeypatch)
    assert big["truncated"] is True and len(big["text"]) == 64 * 1024
    head = _call({"method": "HEAD", "url": f"{service.url}/x"}, allow, monkeypatch)
    assert head["status"] == 201 and head["json"] is None  # no body
    for args, field in [
        ({}, "url"),
        ({"url": f"{service.url}/", "method": "TRACE"}, "method"),
        ({"url": f"{service.url}/", "json": {}, "body": "x"}, "json or body"),
        ({"url": f"{service.url}/", "headers": {"Host": "evil"}}, "Host"),
        ({"url": f"{service.url}/", "expect": ["200"]}, "expect"),
        ({"url": f"{service.url}/", "data": 1}, "data"),
        ({"url": "/relative"}, "url"),
        ({"url": f"http://u:p@127.0.0.1:{service.port}/"}, "credentials"),
    ]:
        error = _fails(args, allow, monkeypatch)
        assert error.code == "invalid_input" and field in error.message, (args, error.message)


# -- one process per executor id ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_executor_id_runs_in_one_process_only(kind, tmp_path):
    """PostgreSQL: one live process per id (an advisory lock); SQLite: one executor per
    file, whatever its id. The lock goes when its holder lets go (or dies)."""
    made = sqlite_backend(tmp_path) if kind == "sqlite" else postgres_backend()
    with made as backend:
        db = Database(backend.url)
        try:
            held = engine.ExecutorGuard(db, "worker-1")
            assert engine.alive(db, "worker-1")
            with pytest.raises(engine.ExecutorInUse):
                engine.ExecutorGuard(db, "worker-1", wait_s=0)
            if kind == "postgres":
                other = engine.ExecutorGuard(db, "worker-2")  # another id: fine
                other.release()
                assert not engine.alive(db, "worker-2")
                server = engine.ExecutorGuard(db, "server")  # a `start --workers 1` elsewhere
                env = {"QYLON_DATABASE_URL": backend.url, "QYLON_SECRET_KEY": PEPPER}
                second = run_qylon("server", "start", "--port", str(free_port()), env=env)
                assert second.code == 1 and "'server' is already running" in second.stderr
                assert "--no-workflows" in second.stderr  # the way out
                server.release()
            else:
                with pytest.raises(engine.ExecutorInUse, match="SQLite takes one"):
                    engine.ExecutorGuard(db, "worker-2", wait_s=0)
            held.release()
            assert not engine.alive(db, "worker-1")
            # a predecessor's lock that goes within wait_s (a restart right after a kill)
            held = engine.ExecutorGuard(db, "worker-1")
            threading.Timer(0.5, held.release).start()
            engine.ExecutorGuard(db, "worker-1", wait_s=5).release()
        finally:
            db.dispose()


def test_on_sqlite_a_second_process_that_runs_workflows_is_refused(tmp_path):
    """A worker holds the SQLite file's executor lock: `start --workers 1` (executor
    `server`) refuses to start (exit 1), naming the holder (a second worker takes the same
    path: `ExecutorGuard` in `launch`, tested above)."""
    with sqlite_backend(tmp_path) as backend:
        db = Database(backend.url)
        held = engine.ExecutorGuard(db, "worker-1")
        try:
            env = {"QYLON_DATABASE_URL": backend.url, "QYLON_SECRET_KEY": PEPPER}
            done = run_qylon("server", "start", "--port", str(free_port()), env=env, timeout=60)
            assert done.code == 1 and "SQLite takes one" in done.stderr, done.stderr
            assert "worker-1" in done.stderr  # who holds it
        finally:
            held.release()
            db.dispose()


SLEEPY = """
name: sleepy
version: 1
steps:
  - name: nap
    sleep: 1h
  - name: tell
    action: notify
    with: {to: "boss@example.com", subject: "awake"}
"""


@pytest.mark.slow
def test_sigterm_stops_a_worker_whose_run_sleeps_and_the_run_resumes(tmp_path):
    """SQLite, one worker beside a server that only queues: SIGTERM while a run sleeps
    ends the worker (exit 0) within its --stop-timeout, not at the sleep's end; started
    again under its id (with other limits: it says so), it resumes the run (`clock` ends
    the sleep), which finishes once."""
    with sqlite_backend(tmp_path) as backend, running(backend) as server:
        org = new_org(backend)
        api = Api(server.url)
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "QYLON_DATABASE_URL": backend.url,
            "QYLON_SECRET_KEY": PEPPER,
        }
        env.pop("QYLON_WORKFLOW_EXECUTOR", None)
        procs = Procs(tmp_path, env)
        try:
            assert api.post("/v1/workflows", org.token, json={"text": SLEEPY}).status_code == 201
            run_id = api.post("/v1/workflows/sleepy/runs", org.token, json={"input": {}}).json()[
                "id"
            ]
            args = ("worker", "--id", "solo", "--stop-timeout", "1")
            worker = procs.start("solo", *args, ready="Workflow worker solo running")
            _until(
                api,
                org.token,
                run_id,
                lambda r: r["steps"] and r["steps"][0]["status"] == "sleeping",
            )
            began = time.monotonic()
            procs.procs.pop("solo").send_signal(signal.SIGTERM)
            assert worker.wait(20) == 0
            assert time.monotonic() - began < 10
            assert "Worker solo stopped" in (tmp_path / "solo.log").read_text()
            procs.env = {**env, "QYLON_WORKFLOW_WORKER_CONCURRENCY": "3"}  # other settings
            procs.start("solo", *args, ready="Workflow worker solo running")
            restarted = (tmp_path / "solo.log").read_text().replace("\n", " ")
            assert "The queue's limits were" in restarted and "at most 3 runs here" in restarted
            deadline = time.monotonic() + 30
            while True:  # the resumed run waits again; its clock ends the sleep
                sent = api.post(
                    f"/v1/workflow-runs/{run_id}/signals/clock", org.token, json={"payload": None}
                )
                assert sent.status_code in (200, 202), sent.text
                run = api.get(f"/v1/workflow-runs/{run_id}", org.token).json()
                if run["status"] == "completed":
                    break
                assert time.monotonic() < deadline, run
                time.sleep(0.5)
        finally:
            codes = procs.stop_all()
            api.http.close()
    assert codes == {"solo": 0}
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["tell"]["status"] == "completed" and steps["tell"]["attempts"] == 1


def _until(api, token, run_id, ok, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/v1/workflow-runs/{run_id}", token).json()
        if ok(run):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def test_worker_refuses_bad_ids():
    bad = run_qylon("server", "worker", "--id", "-x")
    assert bad.code == 3 and "--id" in bad.stderr
    own = run_qylon("server", "worker", "--id", "w1", "--adopt", "w1")
    assert own.code == 3 and "own --id" in own.stderr
    both = run_qylon("server", "start", "--workers", "2", "--workflows")
    assert both.code == 3 and "one process runs workflows" in both.stderr.lower()


# -- several processes on PostgreSQL --------------------------------------------------------

CALL_OUT = """
name: call-out
version: 1
input:
  n: {type: integer, required: true}
steps:
  - name: call
    action: http.request
    with:
      method: POST
      url: "SERVICE/work"
      json: {n: "{{ input.n }}"}
    retry: {max_attempts: 5, initial_interval: 1s, retry_on: [unavailable]}
"""
LIMIT = 3  # runs at once, all processes together; each worker takes up to 2 (4 > 3)


class Procs:
    """`qylon server` subprocesses, their stderr in files (read for the start-up line)."""

    def __init__(self, tmp: Path, env: dict):
        self.tmp, self.env, self.procs = tmp, env, {}

    def start(self, name: str, *args: str, ready: str, timeout: float = 60):
        self.spawn(name, *args)
        return self.ready(name, ready, timeout)

    def spawn(self, name: str, *args: str) -> None:
        with open(self.tmp / f"{name}.log", "w") as err:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "qylon_cli", "server", *args],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=self.env,
            )

    def ready(self, name: str, line: str, timeout: float = 60):
        """Wait for ``line`` in the process's stderr (its start-up line)."""
        proc, log = self.procs[name], self.tmp / f"{name}.log"
        deadline = time.monotonic() + timeout
        while line not in log.read_text().replace("\n", " "):
            assert proc.poll() is None, f"{name} exited {proc.returncode}: {log.read_text()}"
            assert time.monotonic() < deadline, f"{name} not ready: {log.read_text()}"
            time.sleep(0.1)
        return proc

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for name, proc in self.procs.items():
            proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        self.procs = {}
        return codes


def _engine_rows(backend, ids) -> dict[str, tuple[str, str]]:
    db = Database(backend.admin_url)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT workflow_uuid, status, executor_id FROM dbos.workflow_status "
                    "WHERE workflow_uuid = ANY(:ids)"
                ),
                {"ids": list(ids)},
            ).all()
    finally:
        db.dispose()
    return {r[0]: (r[1], r[2]) for r in rows}


def _kill_mid_request(procs, backend, service, run_ids, executors: list[str]) -> dict:
    """SIGKILL ``executors`` at once, when each has a run whose request is in flight at
    the service; the runs they left pending, by executor."""
    deadline = time.monotonic() + 30
    while True:
        rows = _engine_rows(backend, run_ids)
        with service.lock:
            busy = {k.rsplit(".", 1)[0] for k in service.in_flight}
        pending = {
            ex: {i for i, (status, by) in rows.items() if status == "PENDING" and by == ex}
            for ex in executors
        }
        if all(pending[ex] & busy for ex in executors):
            for ex in executors:
                procs.kill(ex)
            rows = _engine_rows(backend, run_ids)  # as the dead left them
            return {
                ex: {i for i, (status, by) in rows.items() if status == "PENDING" and by == ex}
                for ex in executors
            }
        assert time.monotonic() < deadline, ("not all of", executors, "in flight", rows)
        time.sleep(0.02)


@pytest.mark.slow
def test_api_processes_and_workers_share_a_limited_queue_and_survive_kills(tmp_path):
    """Two API processes queue runs, workers run them: never more than LIMIT at once
    (measured at the service), a SIGKILLed worker's runs finish when it starts again under
    its id, another killed worker's runs finish by adoption, and every run's effect
    happens once (the service deduplicates by the step's Idempotency-Key)."""
    with Service(work_s=0.4) as service, postgres_backend() as backend:
        org = new_org(backend)
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "QYLON_DATABASE_URL": backend.url,  # the app's role, under row-level security
            "QYLON_SECRET_KEY": PEPPER,
            "QYLON_WORKFLOW_CONCURRENCY": str(LIMIT),
            "QYLON_WORKFLOW_WORKER_CONCURRENCY": "2",
            "QYLON_WORKFLOW_HTTP_ALLOW": f"127.0.0.1:{service.port}",
        }
        env.pop("QYLON_WORKFLOW_EXECUTOR", None)
        procs = Procs(tmp_path, env)
        ports = [free_port(), free_port()]
        apis = [Api(f"http://127.0.0.1:{p}") for p in ports]
        try:
            for i, (port, mode) in enumerate(zip(ports, (["--no-workflows"], ["--workers", "2"]))):
                # queue only: one process told so, and uvicorn's several processes
                procs.spawn(f"api-{i}", "start", *mode, "--port", str(port))
            for name in ("worker-1", "worker-2"):
                procs.spawn(name, "worker", "--id", name)
            for name in ("api-0", "api-1"):
                procs.ready(name, "Application startup complete")
            for name in ("worker-1", "worker-2"):
                procs.ready(name, f"Workflow worker {name} running")
            # refused while worker-1 and worker-2 live (side by side: each waits 3 s for a
            # lock that a just-killed holder might still be dropping)
            refused = [
                subprocess.Popen(
                    [sys.executable, "-m", "qylon_cli", "server", "worker", *args],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
                for args in (["--id", "worker-1"], ["--id", "w9", "--adopt", "worker-2"])
            ]
            (_, twin), (_, early) = (p.communicate(timeout=60) for p in refused)
            assert refused[0].returncode == 1 and "already running" in twin, twin
            assert refused[1].returncode == 1 and "is alive" in early, early

            text_ = CALL_OUT.replace("SERVICE", service.url)
            assert apis[0].post("/v1/workflows", org.token, json={"text": text_}).status_code == 201
            run_ids = []
            for n in range(12):
                r = apis[n % 2].post(
                    "/v1/workflows/call-out/runs", org.token, json={"input": {"n": n}}
                )
                assert r.status_code in (200, 201, 202), r.text
                run_ids.append(r.json()["id"])

            # both at once, mid-request: nothing moves until they are back or adopted
            lost = _kill_mid_request(procs, backend, service, run_ids, ["worker-1", "worker-2"])
            lost_1, lost_2 = lost["worker-1"], lost["worker-2"]
            procs.spawn("worker-1", "worker", "--id", "worker-1")
            procs.spawn("worker-3", "worker", "--id", "worker-3", "--adopt", "worker-2")
            procs.ready("worker-1", "worker-1 running")
            procs.ready("worker-3", "Adopted")
            deadline = time.monotonic() + 90
            while True:
                runs = [apis[0].get(f"/v1/workflow-runs/{i}", org.token).json() for i in run_ids]
                if all(r["status"] not in ("enqueued", "running") for r in runs):
                    break
                assert time.monotonic() < deadline, [r["status"] for r in runs]
                time.sleep(0.3)
            rows = _engine_rows(backend, run_ids)
        finally:
            codes = procs.stop_all()
            for api in apis:
                api.http.close()

    assert [r["status"] for r in runs] == ["completed"] * 12, runs
    assert codes["worker-1"] == 0 and codes["worker-3"] == 0, codes  # SIGTERM: a clean stop
    keys = {f"{i}.call" for i in run_ids}
    assert service.effects == {k: 1 for k in keys}  # each run's effect once
    assert 2 <= service.peak <= LIMIT, service.peak  # the limit held, across processes
    for lost in (lost_1, lost_2):  # a request in flight at the kill was sent again, same key
        assert any(service.requests.get(f"{i}.call", 0) >= 2 for i in lost), lost
    assert lost_1 and lost_2
    assert all(rows[i][0] == "SUCCESS" for i in run_ids)
    assert not {rows[i][1] for i in lost_2} & {"worker-2"}  # adopted: finished elsewhere
    assert {ex for _, ex in rows.values()} >= {"worker-1"}


def test_adoption_relies_on_a_private_dbos_call_pinned_to_its_minor_version():
    """``--adopt`` calls ``DBOS._recover_pending_workflows``: a dbos upgrade must be a
    deliberate change of the pin (and of this test), proven by the test above."""
    from importlib.metadata import version

    from dbos import DBOS

    pin = (Path(__file__).parents[2] / "server/pyproject.toml").read_text()
    assert '"dbos>=3.4,<3.5"' in pin
    assert version("dbos").startswith("3.4.")
    assert callable(DBOS._recover_pending_workflows)
