"""A throw-away PostgreSQL database for tests, the API fuzz and benchmarks.

    with throwaway_postgres("qylon_fuzz") as pg:
        migrate.upgrade(pg.admin_url, grant_to=pg.role)
        ... connect as pg.app_url (a role without SUPERUSER or BYPASSRLS) ...

Creates a database and a login role under row-level security on the local server
(``postgres`` user, trust authentication, as docs/development.md describes) and drops
both afterwards, terminating any connection left open. Development tooling: nothing in
the server imports it, and psycopg is imported only when it is used.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SERVER = "host=127.0.0.1 user=postgres dbname=postgres"
HOST = "127.0.0.1:5432"


@dataclass(frozen=True)
class ThrowawayDatabase:
    name: str
    role: str | None  # None when made without an application role
    admin_url: str  # the tables' owner: migrations, set-up
    app_url: str  # what an application connects with (the admin's when there is no role)


@contextmanager
def throwaway_postgres(
    prefix: str = "qylon_tmp", *, tag: str | None = None, with_role: bool = True
) -> Iterator[ThrowawayDatabase]:
    """A fresh database ``{prefix}_{tag}`` (and role ``{prefix}_app_{tag}``), dropped on exit."""
    import psycopg

    tag = tag or secrets.token_hex(4)
    name = f"{prefix}_{tag}"
    role = f"{prefix}_app_{tag}" if with_role else None
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
        if role:
            conn.execute(
                f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
            )
    admin = f"postgresql+psycopg://postgres@{HOST}/{name}"
    try:
        yield ThrowawayDatabase(
            name, role, admin, f"postgresql+psycopg://{role}@{HOST}/{name}" if role else admin
        )
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            if role:
                conn.execute(f"DROP ROLE IF EXISTS {role}")
