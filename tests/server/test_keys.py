"""API keys: hashed at rest, rotation with a grace period, revocation, expiry, deactivation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qylon_server.db import Database
from qylon_server.models import ApiKey
from sqlalchemy import select, update


def test_keys_are_stored_only_as_hashes(api, backend, org):
    new = api.post("/v1/api-keys", org.token, json={"name": "ci", "scopes": ["read"]}).json()
    assert new["token"].startswith(new["prefix"] + "_") and new["prefix"].startswith("qyl_live_")
    db = Database(backend.admin_url)
    try:
        with db.session(org.id) as s:
            rows = s.scalars(select(ApiKey)).all()
            stored = " ".join(f"{r.key_hash} {r.prefix} {r.name}" for r in rows)
    finally:
        db.dispose()
    secret = new["token"].removeprefix(new["prefix"] + "_")  # may itself hold "_"
    assert len(secret) >= 32
    assert new["token"] not in stored and secret not in stored
    listed = api.get("/v1/api-keys", org.token).json()
    assert all("token" not in k for k in listed)
    assert {k["prefix"] for k in listed} >= {new["prefix"]}


def test_rotation_keeps_the_old_secret_for_the_grace_period(api, backend, org):
    """No wall-clock window: the grace period is read from expires_at, then its end is
    reached by moving expires_at into the past (as the clock would)."""
    old = api.post(
        "/v1/api-keys", org.token, json={"name": "laptop", "scopes": ["read", "write"]}
    ).json()
    assert api.get("/v1/me", old["token"]).status_code == 200
    before = datetime.now(UTC)
    rotated = api.post(
        f"/v1/api-keys/{old['id']}/rotate", old["token"], json={"grace_seconds": 3600}
    ).json()
    after = datetime.now(UTC)
    assert rotated["token"] != old["token"] and rotated["rotated_from_id"] == old["id"]
    assert rotated["scopes"] == ["read", "write"] and rotated["name"] == "laptop"
    graced = api.get(f"/v1/api-keys/{old['id']}", org.token).json()
    ends = datetime.fromisoformat(graced["expires_at"])
    ends = ends if ends.tzinfo else ends.replace(tzinfo=UTC)
    assert (
        before + timedelta(seconds=3600) - timedelta(seconds=1)
        <= ends
        <= after + timedelta(seconds=3601)
    )
    assert api.get("/v1/me", old["token"]).status_code == 200  # inside the grace period
    assert api.get("/v1/me", rotated["token"]).status_code == 200
    db = Database(backend.admin_url)
    try:
        with db.session(org.id) as s:  # the grace period has run out
            s.execute(
                update(ApiKey)
                .where(ApiKey.id == old["id"])
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        db.dispose()
    gone = api.get("/v1/me", old["token"])
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "not_authenticated"
    assert api.get("/v1/me", rotated["token"]).status_code == 200
    listed = {k["id"]: k for k in api.get("/v1/api-keys", org.token).json()}
    assert (
        listed[old["id"]]["status"] == "expired"
        and listed[old["id"]]["rotated_to_id"] == rotated["id"]
    )


def test_rotation_without_grace_and_revocation_stop_at_once(api, org):
    key = api.post(
        "/v1/api-keys", org.token, json={"name": "a", "scopes": ["read", "write"]}
    ).json()
    rotated = api.post(
        f"/v1/api-keys/{key['id']}/rotate", org.token, json={"grace_seconds": 0}
    ).json()
    assert api.get("/v1/me", key["token"]).status_code == 401
    revoked = api.post(f"/v1/api-keys/{rotated['id']}/revoke", org.token).json()
    assert revoked["status"] == "revoked"
    assert api.get("/v1/me", rotated["token"]).status_code == 401
    again = api.post(f"/v1/api-keys/{rotated['id']}/rotate", org.token, json={"grace_seconds": 10})
    assert again.status_code == 409


def test_a_key_in_use_is_refused_at_the_next_request_after_revocation(api, org):
    """The server remembers which organisation a key belongs to (deps.KeyOrgs), never
    that it is valid: a key used a moment ago is refused as soon as it is revoked."""
    key = api.post("/v1/api-keys", org.token, json={"name": "busy", "scopes": ["read"]}).json()
    for _ in range(3):  # seen before: read through the remembered organisation
        assert api.get("/v1/clients", key["token"]).status_code == 200
    assert api.post(f"/v1/api-keys/{key['id']}/revoke", org.token).status_code == 200
    assert api.get("/v1/clients", key["token"]).status_code == 401
    assert api.get("/v1/me", key["token"]).status_code == 401


def test_last_used_and_expiry(api, org):
    key = api.post(
        "/v1/api-keys", org.token, json={"name": "x", "scopes": ["read"], "expires_in_days": 1}
    ).json()
    assert key["last_used_at"] is None and key["expires_at"]
    api.get("/v1/me", key["token"])
    seen = api.get(f"/v1/api-keys/{key['id']}", org.token).json()
    assert seen["last_used_at"] is not None


def test_scopes_cannot_be_escalated(api, org):
    member = api.make_user(org.token, "member", ["read", "write"])
    r = api.post("/v1/api-keys", member, json={"name": "more", "scopes": ["admin"]})
    assert r.status_code == 403
    reader = api.post("/v1/api-keys", org.token, json={"name": "r", "scopes": ["read"]}).json()[
        "token"
    ]
    assert (
        api.post("/v1/api-keys", reader, json={"name": "w", "scopes": ["read"]}).status_code == 403
    )
    writer = api.post("/v1/api-keys", org.token, json={"name": "w", "scopes": ["write"]}).json()[
        "token"
    ]
    assert (
        api.post(
            "/v1/api-keys", writer, json={"name": "w2", "scopes": ["write", "admin"]}
        ).status_code
        == 403
    )
    assert (
        api.post("/v1/api-keys", org.token, json={"name": "s", "scopes": ["scim"]}).status_code
        == 201
    )


def test_deactivated_users_keys_stop_working(api, org):
    token = api.make_user(org.token, "member")
    me = api.get("/v1/me", token).json()["user"]
    assert me["status"] == "active"  # invited users become active on first use
    assert api.post(f"/v1/users/{me['id']}/deactivate", org.token).json()["status"] == "deactivated"
    assert api.get("/v1/me", token).status_code == 401
    assert (
        api.post(f"/v1/users/{org.owner_id}/deactivate", org.token).status_code == 409
    )  # not yourself


def test_an_admin_cannot_touch_an_owner(api, org):
    admin = api.make_user(org.token, "admin", ["admin"])
    assert api.post(f"/v1/users/{org.owner_id}/deactivate", admin).status_code == 403
    assert (
        api.post("/v1/users", admin, json={"email": "boss@x.example", "role": "owner"}).status_code
        == 403
    )
    owner_key = api.get("/v1/api-keys", org.token).json()[0]["id"]
    assert (
        api.post(f"/v1/api-keys/{owner_key}/revoke", admin).status_code == 200
    )  # admins manage keys
