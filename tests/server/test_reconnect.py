"""PostgreSQL ending the server's connections (a restart, a failover, an administrator's
``pg_terminate_backend``) costs no request: the pool replaces each closed connection at
checkout (db.py, ``_closed_by_the_server``), without a round trip per request."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from qylon_server.throwaway import SERVER

from .harness import Api, new_org, postgres_backend, running

pytestmark = pytest.mark.timeout(120)


def _end_connections(database: str) -> None:
    """What a restart does to each of the server's connections: an error, then EOF."""
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        deadline = time.monotonic() + 10
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the connections did not end"
            time.sleep(0.05)


def test_every_request_is_answered_after_postgres_ends_the_pools_connections():
    with postgres_backend() as backend, running(backend) as server:
        org = new_org(backend)
        api = Api(server.url, backend)
        database = backend.url.rsplit("/", 1)[1]

        def get(_=None) -> int:
            return api.get("/v1/clients?limit=5", org.token).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(get, range(40))) == {200}  # several connections pooled
            _end_connections(database)
            assert [get() for _ in range(5)] == [200] * 5
            _end_connections(database)
            assert set(pool.map(get, range(40))) == {200}
        api.http.close()
