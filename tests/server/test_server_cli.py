"""`qylon server migrate|init|start`, run as a user would, plus the migrations themselves.

test_placeholder_secret_refused_outside_development, test_readme_server_lines_on_a_fresh_home
and test_plugins_list_shows_the_server run their commands in-process (``qylon_here``: the
same entry point, environment, streams and exit codes, without an interpreter start per
command); the rest run the real subprocess, `server start` always (a start that wrongly
succeeded would serve inside the test process)."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time

import httpx2
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from qylon_server.migrate import include_object, upgrade
from qylon_server.models import Base
from sqlalchemy import create_engine, text

from .harness import free_port, postgres_backend


def test_start_refuses_an_unmigrated_database(qylon, qylon_home):
    result = qylon("server", "start", "--port", "1", "--json")
    assert result.code == 1
    err = result.json["error"]
    assert err["code"] == "database_not_migrated" and "qylon server migrate" in err["hint"]


@pytest.mark.slow
def test_migrate_init_start_end_to_end(qylon, qylon_home):
    first = qylon("server", "migrate", "--json")
    assert (
        first.code == 0
        and first.json["data"]["changed"] is True
        and first.json["data"]["from"] is None
    )
    assert qylon("server", "migrate", "--json").json["data"]["changed"] is False
    init = qylon(
        "server", "init", "--org", "Acme Consulting", "--admin-email", "Ops@Acme.example", "--json"
    )
    assert init.code == 0, init.stderr
    token = init.json["data"]["token"]
    assert (
        token.startswith("qyl_live_") and init.json["data"]["user"]["email"] == "ops@acme.example"
    )
    twice = qylon("server", "init", "--org", "Other", "--admin-email", "x@y.example", "--json")
    assert twice.code == 3 and "--another" in twice.json["error"]["hint"]
    port = free_port()
    env_home = {"QYLON_HOME": str(qylon_home)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qylon_cli",
            "server",
            "start",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**__import__("os").environ, **env_home},
    )
    try:
        me = None
        for _ in range(1800):  # harness.START_S
            try:
                me = httpx2.get(
                    f"http://127.0.0.1:{port}/v1/me", headers={"Authorization": f"Bearer {token}"}
                )
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        assert me is not None and me.status_code == 200
        assert me.json()["organisation"]["name"] == "Acme Consulting"
    finally:
        proc.terminate()
        proc.wait(20)


def test_placeholder_secret_refused_outside_development(qylon_here):
    qylon = qylon_here  # in-process
    env = {"QYLON_ENVIRONMENT": "production", "QYLON_SECRET_KEY": "changethis"}
    result = qylon("server", "migrate", "--json", env=env)
    assert result.code == 3 and "placeholder" in result.json["error"]["message"]
    for weak in ("s" * 40, "ab" * 20, "short-but-random-9x"):
        refused = qylon("server", "migrate", "--json", env={**env, "QYLON_SECRET_KEY": weak})
        assert refused.code == 3 and "32 bytes" in refused.json["error"]["message"], weak
    ok = qylon(
        "server", "migrate", "--json", env={**env, "QYLON_SECRET_KEY": secrets.token_urlsafe(48)}
    )
    assert ok.code == 0


def test_tls_needs_cert_and_key(qylon, tmp_path):
    qylon("server", "migrate")
    result = qylon("server", "start", "--cert", str(tmp_path / "c.pem"), "--json")
    assert result.code == 3 and "--key" in result.json["error"]["message"]


@pytest.mark.parametrize("engine_name", ["sqlite", "postgres"])
def test_models_match_migrations_and_foreign_tables_are_ignored(engine_name, tmp_path):
    if engine_name == "sqlite":
        url = f"sqlite:///{tmp_path / 's.db'}"
        upgrade(url)
        _compare(url)
    else:
        with postgres_backend() as backend:
            _compare(backend.admin_url)


def _compare(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:  # a table another engine (DBOS) owns in the same database
            conn.execute(text("CREATE TABLE dbos_like_table (workflow_uuid TEXT PRIMARY KEY)"))
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={"include_object": include_object, "version_table": "qylon_alembic_version"},
            )
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], diff
    finally:
        engine.dispose()


def test_plugins_list_shows_the_server(qylon_here):
    qylon = qylon_here  # in-process
    rows = qylon("plugins", "list", "--json").json["data"]["items"]
    server = next(r for r in rows if r["name"] == "server")
    assert server["package"] == "qylon-server" and "register_commands" in server["hooks"]


@pytest.mark.slow
def test_start_serves_tls_with_cert_and_key(qylon, qylon_home, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-days",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    assert qylon("server", "migrate").code == 0
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qylon_cli",
            "server",
            "start",
            "--port",
            str(port),
            "--cert",
            str(cert),
            "--key",
            str(key),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**__import__("os").environ, "QYLON_HOME": str(qylon_home)},
    )
    try:
        answer = None
        import ssl

        trust = ssl.create_default_context(cafile=str(cert))
        for _ in range(1800):  # harness.START_S
            try:
                answer = httpx2.get(f"https://127.0.0.1:{port}/health", verify=trust)
                break
            except httpx2.ConnectError:
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200
        with pytest.raises(httpx2.TransportError):
            httpx2.get(f"http://127.0.0.1:{port}/health", timeout=3)  # plain HTTP is not served
    finally:
        proc.terminate()
        proc.wait(20)


def test_production_refuses_a_role_that_bypasses_rls(qylon):
    with postgres_backend() as backend:
        env = {"QYLON_ENVIRONMENT": "production", "QYLON_SECRET_KEY": secrets.token_urlsafe(48)}
        refused = qylon("server", "start", "--database-url", backend.admin_url, "--json", env=env)
        assert refused.code == 3 and "BYPASSRLS" in refused.json["error"]["message"]


@pytest.mark.parametrize("engine_name", ["sqlite", "postgres"])
def test_migrations_downgrade_to_empty_and_upgrade_again(engine_name, tmp_path):
    from alembic import command
    from qylon_server.migrate import config, current, foreign_table, head

    def roundtrip(url: str) -> None:
        engine = create_engine(url)
        try:
            command.downgrade(config(url), "base")
            with engine.connect() as conn:
                left = {
                    r[0]
                    for r in conn.execute(
                        text(
                            "SELECT name FROM sqlite_master WHERE type='table'"
                            if engine.dialect.name == "sqlite"
                            else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                        )
                    )
                }
            # DBOS's tables (SQLite: bare, beside ours) are DBOS's to migrate, not Alembic's
            ours = {t for t in left if not foreign_table(t)}
            assert ours <= {"qylon_alembic_version"}, left
            upgrade(url)
            assert current(engine) == head()
            with engine.connect() as conn:  # expression indexes, which autogenerate cannot compare
                indexes = {
                    r[0]
                    for r in conn.execute(
                        text(
                            "SELECT name FROM sqlite_master WHERE type='index'"
                            if engine.dialect.name == "sqlite"
                            else "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
                        )
                    )
                }
            assert {"ix_users_org_user_name", "uq_users_org_external_id"} <= indexes
        finally:
            engine.dispose()

    if engine_name == "sqlite":
        url = f"sqlite:///{tmp_path / 'r.db'}"
        upgrade(url)
        roundtrip(url)
    else:
        with postgres_backend() as backend:
            roundtrip(backend.admin_url)


def test_readme_server_lines_on_a_fresh_home(qylon_here, qylon_home):
    qylon = qylon_here  # in-process
    """The README's two lines: init on a fresh SQLite database creates its schema, says so, and start serves it."""
    init = qylon(
        "server", "init", "--org", "Acme Consulting", "--admin-email", "you@acme.example", "--json"
    )
    assert init.code == 0, init.stderr
    assert (
        "created its schema" in init.stderr
        and init.json["data"]["organisation"]["name"] == "Acme Consulting"
    )
    assert (
        qylon("server", "migrate", "--json").json["data"]["changed"] is False
    )  # already at the newest schema


def test_failed_init_or_start_leaves_no_database_behind(qylon, qylon_home):
    db = qylon_home / "server.db"
    bad = qylon("server", "init", "--org", "Acme", "--admin-email", "not-an-email", "--json")
    assert bad.code == 3, bad.stdout
    refused = qylon("server", "start", "--port", "1", "--json")
    assert refused.code == 1 and refused.json["error"]["code"] == "database_not_migrated"
    assert not list(qylon_home.glob("server.db*")), sorted(p.name for p in qylon_home.iterdir())
    assert not db.exists()


def test_init_on_an_unmigrated_postgres_database_names_the_step(qylon):
    with postgres_backend() as backend:
        with create_engine(backend.admin_url).begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS qylon_alembic_version"))
        result = qylon(
            "server",
            "init",
            "--org",
            "Acme",
            "--admin-email",
            "ops@acme.example",
            "--database-url",
            backend.admin_url,
            "--json",
        )
        assert result.code == 1, result.stdout
        err = result.json["error"]
        assert err["code"] == "database_not_migrated" and "qylon server migrate" in err["hint"]
        assert "server init` again" in err["hint"]
