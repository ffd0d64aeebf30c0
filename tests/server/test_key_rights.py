"""Who may make, rotate and revoke whose API keys (issue 16): nobody ever receives a
secret for the account of someone of equal or higher rank, and a rotated key in its
grace period may use data but no longer manage keys."""

from __future__ import annotations

import secrets

from .harness import direct_key


def bulk(api, token, items):
    return api.post(
        "/v1/users/bulk",
        token,
        json={"items": items},
        headers={"Idempotency-Key": f"k-{secrets.token_hex(8)}"},
    )


def user_id(api, token) -> str:
    return api.get("/v1/me", token).json()["user"]["id"]


def test_an_admin_cannot_take_over_the_organisation(api, org):
    """The review's sequence, step by step: each step is refused and the owner keeps control."""
    owner = org.token
    admin = api.make_user(owner, "admin", ["read", "write", "admin"])
    user_id(api, admin)
    owner_key = api.get("/v1/me", owner).json()["key"]["id"]
    # 1. a secret for the owner's account
    r = api.post(
        "/v1/api-keys",
        admin,
        json={"name": "mine now", "scopes": ["admin"], "user_id": org.owner_id},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed", r.text
    # 2. rotating the owner's key without grace: the admin would hold the only secret
    r = api.post(f"/v1/api-keys/{owner_key}/rotate", admin, json={"grace_seconds": 0})
    assert r.status_code == 403, r.text
    assert api.get("/v1/me", owner).status_code == 200  # the owner is not locked out
    # 3. promotion and 4. deactivation of the owner
    assert (
        bulk(
            api,
            admin,
            [
                {
                    "action": "update",
                    "email": api.get("/v1/me", admin).json()["user"]["email"],
                    "fields": {"role": "owner"},
                }
            ],
        ).status_code
        == 403
    )
    assert api.post(f"/v1/users/{org.owner_id}/deactivate", admin).status_code == 403
    me = api.get("/v1/me", owner).json()["user"]
    assert me["role"] == "owner" and me["status"] == "active"
    # the audit trail names the admin for what the admin did, never the owner
    events = api.get("/v1/audit-events", owner, params={"actor_user_id": org.owner_id}).json()[
        "items"
    ]
    assert not [
        e
        for e in events
        if e["action"].startswith("api_key.")
        and e["detail"].get("user_id") == org.owner_id
        and e["api_key_id"] != owner_key
    ]


def test_keys_for_others_need_a_strictly_higher_role(api, org, backend):
    owner = org.token
    admin = api.make_user(owner, "admin", ["read", "write", "admin"])
    other_admin_id = user_id(api, api.make_user(owner, "admin", ["read"]))
    manager_id = user_id(api, api.make_user(owner, "manager", ["read"]))
    # an admin may make keys for a manager, not for another admin
    made = api.post(
        "/v1/api-keys", admin, json={"name": "m", "scopes": ["read"], "user_id": manager_id}
    )
    assert made.status_code == 201 and made.json()["user_id"] == manager_id
    assert (
        api.post(
            "/v1/api-keys", admin, json={"name": "a", "scopes": ["read"], "user_id": other_admin_id}
        ).status_code
        == 403
    )
    # an owner may make keys for an admin, not for another owner
    assert (
        api.post(
            "/v1/api-keys", owner, json={"name": "a", "scopes": ["read"], "user_id": other_admin_id}
        ).status_code
        == 201
    )
    assert (
        bulk(
            api,
            owner,
            [
                {
                    "action": "create",
                    "email": "second-owner@example.com",
                    "fields": {"role": "owner"},
                }
            ],
        ).status_code
        == 200
    )
    second = api.get("/v1/users", owner, params={"q": "second-owner"}).json()["items"][0]["id"]
    assert (
        api.post(
            "/v1/api-keys", owner, json={"name": "o", "scopes": ["read"], "user_id": second}
        ).status_code
        == 403
    )
    # an owner's key is rotated only by that owner; another owner may revoke it
    second_key = direct_key(backend, org.id, second, ["read", "write", "admin"])
    second_key_id = api.get("/v1/me", second_key).json()["key"]["id"]
    assert (
        api.post(
            f"/v1/api-keys/{second_key_id}/rotate", owner, json={"grace_seconds": 60}
        ).status_code
        == 403
    )
    assert (
        api.post(
            f"/v1/api-keys/{second_key_id}/rotate", second_key, json={"grace_seconds": 60}
        ).status_code
        == 200
    )
    # an admin rotates a manager's key (and gets the new secret); revokes anyone's
    manager_key = made.json()
    rotated = api.post(f"/v1/api-keys/{manager_key['id']}/rotate", admin, json={"grace_seconds": 0})
    assert rotated.status_code == 200 and rotated.json()["user_id"] == manager_id
    assert api.post(f"/v1/api-keys/{second_key_id}/revoke", admin).status_code == 200
    events = api.get("/v1/audit-events", owner, params={"action": "api_key.rotate"}).json()["items"]
    by_admin = [e for e in events if e["target_id"] == manager_key["id"]]
    assert by_admin and by_admin[0]["actor_user_id"] == user_id(api, admin)


def test_a_rotated_key_in_its_grace_period_cannot_manage_keys(api, org):
    old = api.post(
        "/v1/api-keys", org.token, json={"name": "stolen", "scopes": ["read", "write"]}
    ).json()
    new = api.post(
        f"/v1/api-keys/{old['id']}/rotate", old["token"], json={"grace_seconds": 3600}
    ).json()
    stale = old["token"]
    assert (
        api.get("/v1/clients", stale).status_code == 200
    )  # data still works during the grace period
    assert (
        api.post("/v1/clients", stale, json={"name": f"Grace {secrets.token_hex(2)}"}).status_code
        == 201
    )
    r = api.post("/v1/api-keys", stale, json={"name": "forever", "scopes": ["read", "write"]})
    assert r.status_code == 403 and "rotated" in r.json()["error"]["message"], r.text
    assert api.post(f"/v1/api-keys/{new['id']}/revoke", stale).status_code == 403
    assert (
        api.post(f"/v1/api-keys/{new['id']}/rotate", stale, json={"grace_seconds": 0}).status_code
        == 403
    )
    assert api.post(
        f"/v1/api-keys/{old['id']}/rotate", stale, json={"grace_seconds": 0}
    ).status_code in (403, 409)
    assert api.get("/v1/me", new["token"]).status_code == 200
    # the new key still manages keys, and can end the old one at once
    assert api.post(f"/v1/api-keys/{old['id']}/revoke", new["token"]).status_code == 200
    assert api.get("/v1/me", stale).status_code == 401
