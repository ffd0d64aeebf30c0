"""Real databases and a real server for the server tests.

SQLite: a file per test session. PostgreSQL: a uniquely named database and a
non-superuser role (no BYPASSRLS, so row-level security applies), both dropped
at the end. The app runs in uvicorn on a free loopback port.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import uvicorn
from qylon_server import migrate
from qylon_server.app import create_app
from qylon_server.config import ServerSettings
from qylon_server.db import Database
from qylon_server.orgs import create_org
from qylon_server.throwaway import throwaway_postgres

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# How long a test waits for a server to start. A fresh `qylon server start` imports the
# whole server (seconds of CPU); on a loaded 2-core machine running the suite's four
# workers each with their own servers, that took over 30 s.
START_S = 180
PEPPER = "test-pepper-" + "x" * 20


def worker_id() -> str:
    """The pytest-xdist worker running this ("gw0", "gw1", ...), or "main" without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _first_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def wait_healthy(url: str, proc=None, timeout: float = START_S) -> None:
    """Wait until the server at ``url`` answers ``/health``; fail at once if ``proc`` (its
    process) has exited, and after ``timeout`` seconds otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx2.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server at {url} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the server at {url} did not start in {timeout:.0f} s")
        time.sleep(0.05)


def free_port() -> int:
    """A free loopback port below the ephemeral range, from a slice of its own per xdist worker.

    Ports the kernel hands out for port 0 come from the ephemeral range, which every
    outgoing connection of every parallel worker draws from too: a test restarting its
    server on the same port could find it taken. Below that range only listeners compete;
    each worker picks from its own slice, a random choice keeps concurrent runs apart,
    and binding proves the port free.
    """
    top = _first_ephemeral_port()
    bottom = max(1024, top - 16_000)
    width = (top - bottom) // 16
    worker = worker_id()
    first = bottom + (int(worker[2:]) % 16 if worker[2:].isdigit() else 0) * width
    for _ in range(200):
        port = first + secrets.randbelow(width)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port found")


@dataclass
class Backend:
    name: str
    url: str  # what the app connects with
    admin_url: str  # owner of the tables (migrations, test set-up)


@contextmanager
def sqlite_backend(tmp_dir):
    url = f"sqlite:///{tmp_dir / 'server.db'}"
    migrate.upgrade(url)
    yield Backend("sqlite", url, url)


@contextmanager
def postgres_backend():
    with throwaway_postgres(
        "qylon_test", tag=f"{worker_id()}_{secrets.token_hex(4)}"
    ) as pg:  # unique per worker and run
        migrate.upgrade(pg.admin_url, grant_to=pg.role)
        yield Backend("postgres", pg.app_url, pg.admin_url)


def settings_for(backend: Backend, **extra) -> ServerSettings:
    return ServerSettings(
        **{
            "database_url": backend.url,
            "secret_key": PEPPER,
            "rate_limit": "100000/minute",
            "auth_failure_limit": "100000/minute",
            **extra,
        }
    )


class ThreadServer:
    """uvicorn in a thread, on a free port."""

    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", proxy_headers=False
            )
        )  # as `qylon server start`
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + START_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def running(backend: Backend, **settings):
    app = create_app(settings_for(backend, **settings))
    with ThreadServer(app) as server:
        yield server
    app.state.db.dispose()


@dataclass
class Org:
    id: str
    name: str
    owner_id: str
    token: str


def new_org(backend: Backend, name: str | None = None) -> Org:
    name = name or f"Org {secrets.token_hex(3)}"
    db = Database(backend.admin_url)
    try:
        done = create_org(
            db,
            name=name,
            admin_email=f"owner@{name.replace(' ', '').lower()}.example",
            pepper=PEPPER.encode(),
            allow_more=True,
        )
    finally:
        db.dispose()
    return Org(done.org_id, name, done.user_id, done.token)


def direct_key(backend: Backend, org_id: str, user_id: str, scopes) -> str:
    """A key for a user written straight into the database, as `qylon server init` does:
    no one may make a key through the API for someone of equal or higher rank (an owner)."""
    from qylon_server import keys
    from qylon_server.db import set_org

    db = Database(backend.admin_url)
    try:
        with db.session(org_id) as s:
            set_org(s, org_id)
            return keys.create(
                s, pepper=PEPPER.encode(), user_id=user_id, name="direct", scopes=list(scopes)
            ).token
    finally:
        db.dispose()


class Api:
    """A thin HTTP client for tests: ``api.get(path, token)`` returns the response."""

    def __init__(self, base_url: str, backend: Backend | None = None):
        self.http = httpx2.Client(base_url=base_url, timeout=30)
        self.backend = backend  # for keys the API rightly refuses to make (another owner's)

    def call(self, method: str, path: str, token: str | None = None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, path, headers=headers, **kw)

    def get(self, path, token=None, **kw):
        return self.call("GET", path, token, **kw)

    def post(self, path, token=None, **kw):
        return self.call("POST", path, token, **kw)

    def put(self, path, token=None, **kw):
        return self.call("PUT", path, token, **kw)

    def patch(self, path, token=None, **kw):
        return self.call("PATCH", path, token, **kw)

    def make_user(self, admin: str, role: str, scopes=("read", "write")) -> str:
        """Invite a user with a role and return a key for them."""
        email = f"{role}-{secrets.token_hex(3)}@example.com"
        user = self.post("/v1/users", admin, json={"email": email, "role": role}).json()
        if role == "owner":
            org_id = self.get("/v1/me", admin).json()["organisation"]["id"]
            return direct_key(self.backend, org_id, user["id"], scopes)
        key = self.post(
            "/v1/api-keys",
            admin,
            json={"name": role, "scopes": list(scopes), "user_id": user["id"]},
        )
        assert key.status_code == 201, key.text
        return key.json()["token"]
