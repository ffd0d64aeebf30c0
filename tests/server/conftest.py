"""The server tests use the shared team server (tests/conftest.py: ``backend``, ``server``
and ``org``, on SQLite and PostgreSQL); every test makes its own organisations."""

from __future__ import annotations

import pytest

from .harness import Api, new_org


@pytest.fixture
def api(server, backend):
    client = Api(server.url, backend)
    yield client
    client.http.close()


@pytest.fixture
def other_org(backend):
    return new_org(backend)
