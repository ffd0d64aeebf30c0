"""Rate limiting per API key (in process, and shared through Redis) and request size limits."""

from __future__ import annotations

import secrets

from .harness import Api, new_org, running

REDIS = "redis://127.0.0.1:6379/11"


def test_rate_limit_per_key_with_retry_after(backend):
    org = new_org(backend)
    with running(backend, rate_limit="5/minute") as server:
        api = Api(server.url)
        other = api.post("/v1/api-keys", org.token, json={"name": "other", "scopes": ["read"]}).json()["token"]
        for _ in range(4):  # the key creation above was the first hit
            assert api.get("/v1/me", org.token).status_code == 200
        limited = api.get("/v1/me", org.token)
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert api.get("/v1/me", other).status_code == 200  # another key has its own budget
        assert api.get("/health").status_code == 200


def test_failed_authentication_is_limited_per_address(backend):
    org = new_org(backend)
    with running(backend, auth_failure_limit="3/minute") as server:
        api = Api(server.url)
        codes = [api.get("/v1/me", "qyl_live_x_" + "y" * 30).status_code for _ in range(3)]
        codes.append(api.get("/v1/me").status_code)
        assert codes == [401, 401, 401, 429]
        assert api.get("/v1/me", org.token).status_code == 200  # a valid key is not held back


def test_redis_shares_the_limit_between_processes(backend):
    import redis

    redis.Redis.from_url(REDIS).ping()  # the shared Redis on 127.0.0.1:6379 (db 11)
    org = new_org(backend)
    with running(backend, rate_limit="6/minute", redis_url=REDIS) as a, running(backend, rate_limit="6/minute", redis_url=REDIS) as b:
        apis = [Api(a.url), Api(b.url)]
        codes = [apis[i % 2].get("/v1/me", org.token).status_code for i in range(8)]
        assert codes[:6] == [200] * 6 and codes[6:] == [429, 429], codes
        assert apis[0].get("/ready").json()["rate_limit"].endswith("(redis)")


def test_request_size_limit(backend):
    org = new_org(backend)
    with running(backend, max_body_bytes=4096) as server:
        api = Api(server.url)
        big = {"name": "x", "notes": "y" * 5000}
        r = api.post("/v1/clients", org.token, json=big)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

        def chunks():
            yield b'{"name": "chunked", "notes": "'
            for _ in range(10):
                yield b"z" * 1000
            yield b'"}'

        streamed = api.post("/v1/clients", org.token, content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        small = api.post("/v1/clients", org.token, json={"name": f"ok {secrets.token_hex(2)}", "notes": "fine"})
        assert small.status_code == 201


def test_nul_characters_are_refused_not_a_server_error(api, org):
    """PostgreSQL text cannot hold NUL; the API refuses it up front on every backend."""
    for path, body in [("/v1/clients", {"name": "a\x00b"}), ("/v1/users", {"email": "a\x00@b.example"})]:
        r = api.post(path, org.token, json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    assert api.get("/v1/clients?q=a%00b", org.token).status_code == 422
    literal = api.post("/v1/clients", org.token, json={"name": "backslash \\u0000 text"})
    assert literal.status_code == 201  # the six characters \u0000 are fine
    assert api.get("/v1/me", org.token).status_code == 200  # the connection and server are still fine
