"""Processes that run workflows (`qylon server worker`) and the queue's limits across
processes (the `http.request` action itself: test_workflow_http.py).

The multi-process proof runs real subprocesses on PostgreSQL (the app's non-superuser
role, under row-level security): two API servers that only queue runs (`qylon server
start --no-workflows` and `--workers 2`) and `qylon server worker` processes share the queue, and the work itself (a loopback
HTTP server that deduplicates by Idempotency-Key) measures how many run at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from qylon_server.db import Database
from qylon_server.workflows import engine
from sqlalchemy import text

from ..conftest import run_qylon
from .harness import (
    PEPPER,
    START_S,
    Api,
    free_port,
    new_org,
    postgres_backend,
    running,
    sqlite_backend,
)
from .workflow_support import Service

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

    def ready(self, name: str, line: str, timeout: float = START_S):
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
    service.answering.clear()  # no request ends between the look and the kill
    try:
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
    finally:
        service.answering.set()


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
