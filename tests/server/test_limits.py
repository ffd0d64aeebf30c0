"""Rate limiting per API key (in process, and shared through Redis) and request size limits."""

from __future__ import annotations

import secrets

from .harness import Api, new_org, running

REDIS = "redis://127.0.0.1:6379/11"


def test_rate_limit_per_key_with_retry_after(backend):
    org = new_org(backend)
    with running(backend, rate_limit="5/minute") as server:
        api = Api(server.url)
        other = api.post(
            "/v1/api-keys", org.token, json={"name": "other", "scopes": ["read"]}
        ).json()["token"]
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
    with (
        running(backend, rate_limit="6/minute", redis_url=REDIS) as a,
        running(backend, rate_limit="6/minute", redis_url=REDIS) as b,
    ):
        apis = [Api(a.url), Api(b.url)]
        ready = apis[0].get("/ready", org.token).json()  # the first of the key's six requests
        assert ready["rate_limit"].endswith("(redis)") and ready["redis"] == "ok"
        codes = [apis[i % 2].get("/v1/me", org.token).status_code for i in range(7)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429], codes


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

        streamed = api.post(
            "/v1/clients", org.token, content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        small = api.post(
            "/v1/clients", org.token, json={"name": f"ok {secrets.token_hex(2)}", "notes": "fine"}
        )
        assert small.status_code == 201


def test_nul_characters_are_refused_not_a_server_error(api, org):
    """PostgreSQL text cannot hold NUL; the API refuses it up front on every backend."""
    for path, body in [
        ("/v1/clients", {"name": "a\x00b"}),
        ("/v1/users", {"email": "a\x00@b.example"}),
    ]:
        r = api.post(path, org.token, json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    assert api.get("/v1/clients?q=a%00b", org.token).status_code == 422
    literal = api.post("/v1/clients", org.token, json={"name": "backslash \\u0000 text"})
    assert literal.status_code == 201  # the six characters \u0000 are fine
    assert (
        api.get("/v1/me", org.token).status_code == 200
    )  # the connection and server are still fine


NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there


def test_redis_down_falls_back_to_counting_per_process(backend, caplog):
    org = new_org(backend)
    with running(backend, rate_limit="5/minute", redis_url=NO_REDIS) as server:
        api = Api(server.url)
        other = api.post(
            "/v1/api-keys", org.token, json={"name": "other", "scopes": ["read"]}
        ).json()["token"]
        codes = [api.get("/v1/me", org.token).status_code for _ in range(5)]
        assert codes == [200] * 4 + [429], codes  # still limited, by this process
        assert "Redis unavailable" in caplog.text
        ready = api.get("/ready", other).json()
        assert ready["status"] == "ready" and ready["redis"] == "unavailable"
        assert ready["rate_limit"] == "5/minute (memory (Redis unavailable))"


def test_ready_shows_details_only_with_a_key(backend):
    org = new_org(backend)
    with running(backend) as server:
        api = Api(server.url)
        assert api.get("/ready").json() == {"status": "ready"}
        detail = api.get("/ready", org.token).json()
        assert (
            detail["database"] == backend.name.replace("postgres", "postgresql")
            and detail["schema_revision"]
        )
        assert api.get("/ready", "qyl_live_x_" + "y" * 30).status_code == 401
        assert api.get("/health").json()["status"] == "ok"


def test_per_user_limit_counts_all_their_keys(backend):
    org = new_org(backend)
    with running(backend, user_rate_limit="6/minute") as server:
        api = Api(server.url)
        keys = [org.token] + [
            api.post("/v1/api-keys", org.token, json={"name": f"k{i}", "scopes": ["read"]}).json()[
                "token"
            ]
            for i in range(2)
        ]  # two requests so far
        codes = [api.get("/v1/me", keys[i % 3]).status_code for i in range(5)]
        assert codes == [200, 200, 200, 200, 429], codes
        assert "your user" in api.get("/v1/me", keys[2]).json()["error"]["message"]


def test_active_keys_per_user_are_capped(backend):
    org = new_org(backend)
    with running(backend, max_keys_per_user=3) as server:
        api = Api(server.url)
        made = [
            api.post("/v1/api-keys", org.token, json={"name": f"k{i}", "scopes": ["read"]})
            for i in range(3)
        ]
        assert [r.status_code for r in made] == [201, 201, 409]  # the owner's first key counts
        assert made[2].json()["error"]["code"] == "too_many_keys"
        assert api.post(f"/v1/api-keys/{made[0].json()['id']}/revoke", org.token).status_code == 200
        assert (
            api.post(
                "/v1/api-keys", org.token, json={"name": "again", "scopes": ["read"]}
            ).status_code
            == 201
        )


def test_forwarded_for_is_believed_only_from_configured_proxies(backend):
    org = new_org(backend)
    spoof = {"X-Forwarded-For": "203.0.113.9"}
    with running(backend, auth_failure_limit="2/minute") as server:
        api = Api(server.url)
        codes = [
            api.get(
                "/v1/me", "qyl_live_x_" + "y" * 30, headers={"X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            for i in range(3)
        ]
        assert codes == [401, 401, 429]  # a new fake address each time does not reset the count
        api.post("/v1/clients", org.token, json={"name": "Spoofed"}, headers=dict(spoof))
        events = api.get("/v1/audit-events", org.token, params={"action": "client.create"}).json()[
            "items"
        ]
        assert events[0]["ip"] == "127.0.0.1"
    with running(backend, trusted_proxies="127.0.0.1") as server:
        api = Api(server.url)
        api.post("/v1/clients", org.token, json={"name": "Proxied"}, headers=dict(spoof))
        events = api.get("/v1/audit-events", org.token, params={"action": "client.create"}).json()[
            "items"
        ]
        assert events[0]["ip"] == "203.0.113.9"


def test_in_process_windows_move_and_forget_idle_keys():
    import time

    from limits import parse
    from qylon_server.limiter import MovingWindows

    windows, limit = MovingWindows(sweep_s=0.0), parse("2/second")
    assert [windows.hit(limit, "a") for _ in range(2)] == [None, None]
    wait = windows.hit(limit, "a")  # the third within the second: refused, not counted
    assert wait is not None and 0 < wait <= 1
    assert windows.hit(limit, "b") is None  # each key has its own window
    time.sleep(wait + 0.01)
    assert windows.hit(limit, "a") is None  # the first hit has left the window
    time.sleep(1.01)
    windows.hit(limit, "c")  # sweeps: "a" and "b" had no hit left in their window
    assert set(windows._hits) == {("2 per 1 second", "c")}
