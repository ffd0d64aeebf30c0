"""One server per backend per test session; every test makes its own organisations."""

from __future__ import annotations

import pytest

from .harness import Api, new_org, postgres_backend, running, sqlite_backend


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request, tmp_path_factory):
    if request.param == "sqlite":
        with sqlite_backend(tmp_path_factory.mktemp("sqlite")) as b:
            yield b
    else:
        with postgres_backend() as b:
            yield b


@pytest.fixture(scope="session")
def server(backend):
    with running(backend) as s:
        yield s


@pytest.fixture
def api(server):
    client = Api(server.url)
    yield client
    client.http.close()


@pytest.fixture
def org(backend):
    return new_org(backend)


@pytest.fixture
def other_org(backend):
    return new_org(backend)
