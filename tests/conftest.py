"""Shared fixtures: every test gets its own QYLON_HOME; helpers run the real command;
the team server (one per engine, shared by the session) for every test that talks to it.

Under pytest-xdist each worker is a session of its own: its own QYLON_HOMEs (tmp_path),
its own databases, servers and ports (tests/server/harness.py), its own PulseAudio
(tests/agent/pulse.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

# One thread per process for BLAS and OpenMP (NumPy, CTranslate2), in the tests and every
# command they start. Parallel workers already keep both cores busy; thread pools on top
# spin waiting for each other: the same transcription took 40 % more CPU with them.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QYLON_SHARED", REPO.parent / "shared"))
AUDIO = SHARED / "data" / "audio"
SAMPLES = REPO / "samples"
FILE_KEYRING = {"PYTHON_KEYRING_BACKEND": "tests.keyring_file.FileKeyring"}  # see keyring_file.py
TEST_PLUGINS = "agent,server,admin"  # the entry points the tests load (QYLON_LOAD_PLUGINS)


def pytest_collection_modifyitems(items):
    """Slow tests first (a stable sort): on parallel workers the long ones then run side
    by side from the start, rather than one of them finishing alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failure's report even when formatting its traceback hits CPython 3.11's
    "AST constructor recursion depth mismatch" (python/cpython#106905, pytest-dev/pytest
    #10874): pytest parses the source with ``ast`` while this process's threads (the
    in-process servers) may parse too, and the SystemError became an INTERNALERROR that
    stopped a whole CI run after 69 tests and hid the failure's cause. The formatting is
    tried again, then the failure is reported as its last frame and message."""
    from _pytest.reports import TestReport

    try:
        return (yield)
    except SystemError as exc:
        if "recursion depth mismatch" not in str(exc):
            raise
    for _ in range(2):
        try:
            return TestReport.from_item_and_call(item, call)
        except SystemError:
            pass
    last = call.excinfo.traceback[-1]
    return TestReport(
        item.nodeid,
        item.location,
        {},
        "failed",
        f"{last.path}:{last.lineno + 1}: {call.excinfo.typename}: {call.excinfo.value}",
        call.when,
        duration=call.duration,
        start=call.start,
        stop=call.stop,
    )


@pytest.fixture(autouse=True)
def qylon_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "qylon-home"
    monkeypatch.setenv("QYLON_HOME", str(home))
    for var in list(os.environ):
        if var.startswith("QYLON_") and var not in ("QYLON_HOME", "QYLON_SHARED"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Only Qylon's own parts load: no integration installed in the test environment leaks
    # into the tests (tests/plugins loads its test plugin explicitly) ...
    monkeypatch.setenv("QYLON_LOAD_PLUGINS", TEST_PLUGINS)
    # ... and no test reads or writes the OS keyring of the machine it runs on.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FILE_KEYRING["PYTHON_KEYRING_BACKEND"])
    from qylon_cli import plugins

    plugins.reset()  # what a test loaded in this process does not reach the next one
    return home


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


def run_qylon(
    *args: str, env: dict | None = None, timeout: float = 300, input: str | None = None
) -> Result:
    """Run the real `qylon` command in a subprocess."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "qylon_cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        input=input,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_qylon_here(
    *args: str, env: dict | None = None, timeout: float = 300, input: str | None = None
) -> Result:
    """Run `qylon` in this process: the same entry point (``qylon_cli.__main__.main``, which
    maps errors to exit codes) with the same environment, standard streams and exit code as
    :func:`run_qylon`, without starting an interpreter (about a second of CPU a command).

    For modules that run many commands; each command family keeps tests on the real
    subprocess (run_qylon) too. ``timeout`` is accepted for the same signature; in-process
    commands are bounded by pytest-timeout."""
    import io

    from qylon_cli import plugins
    from qylon_cli.__main__ import main

    saved_env = dict(os.environ)
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_umask = os.umask(0o022)
    os.umask(saved_umask)
    out, err = io.StringIO(), io.StringIO()
    os.environ.update({"NO_COLOR": "1", "COLUMNS": "200", **(env or {})})
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(input or ""), out, err
    plugins.reset()  # a fresh process reads QYLON_LOAD_PLUGINS and the settings again
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.environ.clear()
        os.environ.update(saved_env)
        os.umask(saved_umask)  # main() sets 0077 for the process it runs in
        plugins.reset()
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def qylon():
    return run_qylon


@pytest.fixture
def qylon_here():
    """`qylon` in-process (run_qylon_here), for a test that runs many commands."""
    return run_qylon_here


@pytest.fixture
def qylon_process():
    """The real subprocess, in a module whose ``qylon`` runs in-process (run_qylon_here)."""
    return run_qylon


@pytest.fixture(scope="session")
def jfk_wav() -> Path:
    path = AUDIO / "jfk.wav"
    assert path.exists(), f"shared test data missing: {path} (clone shared/ beside the repository)"
    return path


# -- the team server ---------------------------------------------------------------------


def credentials(url: str, token: str) -> dict:
    """Environment for a command signed in to the server at ``url`` with ``token``."""
    return {"QYLON_SERVER": url, "QYLON_TOKEN": token}


def complete(words: str, env: dict | None = None, run=run_qylon) -> list[str]:
    """What bash completion offers for the command line ``words`` (the real `qylon`, or
    ``run=run_qylon_here`` in-process)."""
    result = run(
        env={
            "_QYLON_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
            **(env or {}),
        }
    )
    assert result.code == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


class TeamServers:
    """A migrated database and a running server per engine, made on first use and kept
    for the session; every test makes its own organisations in them."""

    def __init__(self, stack: ExitStack, tmp_path_factory):
        self._stack, self._tmp = stack, tmp_path_factory
        self._backends: dict = {}
        self._servers: dict = {}

    def backend(self, engine: str):
        from .server import harness

        if engine not in self._backends:
            made = (
                harness.sqlite_backend(self._tmp.mktemp(engine))
                if engine == "sqlite"
                else harness.postgres_backend()
            )
            self._backends[engine] = self._stack.enter_context(made)
        return self._backends[engine]

    def server(self, engine: str):
        from .server import harness

        if engine not in self._servers:
            self._servers[engine] = self._stack.enter_context(harness.running(self.backend(engine)))
        return self._servers[engine]


@pytest.fixture(scope="session")
def team_servers(tmp_path_factory):
    with ExitStack() as stack:
        yield TeamServers(stack, tmp_path_factory)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, team_servers):
    """The server's database, on each engine. A module whose tests do not depend on the
    engine overrides this with ``team_servers.backend("sqlite")``."""
    return team_servers.backend(request.param)


@pytest.fixture
def server(backend, team_servers):
    return team_servers.server(backend.name)


@pytest.fixture
def org(backend):
    from .server.harness import new_org

    return new_org(backend)


@pytest.fixture
def signed_in(server, org) -> dict:
    """Environment for a command signed in as the owner of ``org``."""
    return credentials(server.url, org.token)
