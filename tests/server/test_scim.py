"""SCIM 2.0 on the real server (SQLite and PostgreSQL): the request sequences Okta and
Entra ID send (shared/data/scim), filters, paging, errors, and the provisioning rules
SCIM shares with the bulk import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

SEQUENCES = Path(__file__).resolve().parents[3] / "shared" / "data" / "scim"
SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@pytest.fixture
def scim(api, org):
    """A key of scope scim for the organisation's owner, and a caller using it."""
    made = api.post(
        "/v1/api-keys", org.token, json={"name": "identity provider", "scopes": ["scim"]}
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]

    def call(method, path, body=None, token=token, **kw):
        headers = {"Accept": SCIM, **kw.pop("headers", {})}
        if body is not None:
            headers["Content-Type"] = SCIM
            kw["content"] = json.dumps(body)
        return api.call(method, path, token, headers=headers, **kw)

    return call


def new_user(scim, email, **extra):
    made = scim(
        "POST",
        "/scim/v2/Users",
        {"schemas": [USER], "userName": email, "emails": [{"value": email}], **extra},
    )
    assert made.status_code == 201, made.text
    return made.json()


def replay(scim, name: str, ids: dict[str, str], made: dict[str, str], remap: dict | None = None):
    """Send every step of a vendor's sequence, with the documents' fictional ids replaced by
    the server's; ``made`` names which step creates the resource a fictional id stands for,
    ``remap`` the ids to change after a step."""
    steps = json.loads((SEQUENCES / name).read_text())
    seen = []
    for step in steps:
        if step["method"] is None:  # documented non-events (Okta never DELETEs users)
            continue
        path, body = step["path"], json.dumps(step["body"]) if step["body"] is not None else None
        for fake, real in ids.items():
            path = path.replace(fake, real)
            body = body.replace(fake, real) if body else body
        path = path.replace(" ", "%20").replace('"', "%22")
        headers = {k: v for k, v in step["headers"].items() if k.lower() != "authorization"}
        reply = scim(
            step["method"],
            path,
            headers=headers,
            **({"content": body.encode()} if body is not None else {}),
        )
        allowed = {step["expect_status"]}
        if step["method"] == "PATCH" and step["expect_status"] == 200:
            allowed.add(204)  # both vendors accept 204 to a PATCH (see the notes in the sequences)
        assert reply.status_code in allowed, (step["step"], reply.status_code, reply.text)
        if reply.status_code != 204 and reply.content:
            assert reply.headers["content-type"].startswith(SCIM), step["step"]
        if step["step"] in made:
            ids[made[step["step"]]] = reply.json()["id"]
        ids.update((remap or {}).get(step["step"], {}))
        seen.append((step["step"], reply))
    return dict(seen)


def test_okta_provisioning_sequence(scim, api, org):
    jose = new_user(scim, "jose.nunez@example.org")
    ids = {"c41e8b70-2d9a-4f3e-8b15-6a7d9e0c2f81": jose["id"]}
    made = {
        "create_user": "7f3c2a9e-5b1d-4e8a-9c64-0d2b7e1f4a30",
        "push_group_create": "e2b9d4a1-6c3f-4a8e-b7d2-1f0e9c8a5b64",
    }
    replies = replay(scim, "okta_sequence.json", ids, made)
    # the connection test: a ListResponse with integers, two at most
    listing = replies["test_connection_users"].json()
    assert (
        listing["schemas"] == [LIST] and listing["startIndex"] == 1 and listing["itemsPerPage"] <= 2
    )
    assert listing["totalResults"] == 2  # the owner and José
    assert replies["lookup_user_before_create"].json()["totalResults"] == 0
    created = replies["create_user"].json()
    assert (
        created["userName"] == "lea.muller@example.org"
        and created["externalId"] == "00u1a2b3c4d5E6f7G8h9"
    )
    assert (
        created["name"] == {"givenName": "Léa", "familyName": "Müller"}
        and created["active"] is True
    )
    assert "password" not in created
    # PUT replaces the whole user: what the body leaves out (displayName, externalId) is cleared
    replaced = replies["update_user_put"].json()
    assert (
        "displayName" not in replaced
        and "externalId" not in replaced
        and replaced["name"]["givenName"] == "Léa"
    )
    lea = scim("GET", f"/scim/v2/Users/{created['id']}").json()
    assert lea["active"] is False  # deprovisioned by the pathless PATCH
    # the same user through the team API: deactivated, invited once, audited as via scim
    users = {u["email"]: u for u in api.get("/v1/users?limit=100", org.token).json()["items"]}
    assert users["lea.muller@example.org"]["status"] == "deactivated"
    events = [
        e
        for e in api.get("/v1/audit-events?limit=200", org.token).json()["items"]
        if e["target_id"] == created["id"]
    ]
    assert {e["action"] for e in events} >= {"user.create", "user.deactivate"}
    assert all(e["detail"]["via"] == "scim" for e in events)
    # the group went through rename, membership edits and the AIW PUT, then was deleted
    assert replies["lookup_group_by_name"].json()["totalResults"] == 1
    assert (
        scim("GET", f"/scim/v2/Groups/{ids['e2b9d4a1-6c3f-4a8e-b7d2-1f0e9c8a5b64']}").status_code
        == 404
    )
    assert users["lea.muller@example.org"]["groups"] is None


def test_okta_group_membership_reaches_users(scim, api, org):
    lea, jose = new_user(scim, "lea@example.org"), new_user(scim, "jose@example.org")
    group = scim(
        "POST",
        "/scim/v2/Groups",
        {"schemas": [GROUP], "displayName": "Équipe Qualité", "members": []},
    ).json()
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "add",
                "path": "members",
                "value": [
                    {"value": lea["id"], "display": "lea@example.org"},
                    {"value": jose["id"]},
                ],
            }
        ],
    }
    assert scim("PATCH", f"/scim/v2/Groups/{group['id']}", patch).status_code in (200, 204)
    got = scim("GET", f"/scim/v2/Groups/{group['id']}").json()
    assert sorted(m["value"] for m in got["members"]) == sorted([lea["id"], jose["id"]])
    assert (
        scim("GET", f"/scim/v2/Users/{lea['id']}").json()["groups"][0]["display"]
        == "Équipe Qualité"
    )
    users = {u["email"]: u for u in api.get("/v1/users?limit=100", org.token).json()["items"]}
    assert users["jose@example.org"]["groups"] == ["Équipe Qualité"]
    # remove by filter, rename: the users' group names follow
    patch["Operations"] = [
        {"op": "remove", "path": f'members[value eq "{jose["id"]}"]'},
        {"op": "replace", "value": {"id": group["id"], "displayName": "Quality"}},
    ]
    assert scim("PATCH", f"/scim/v2/Groups/{group['id']}", patch).status_code in (200, 204)
    users = {u["email"]: u for u in api.get("/v1/users?limit=100", org.token).json()["items"]}
    assert users["jose@example.org"]["groups"] is None and users["lea@example.org"]["groups"] == [
        "Quality"
    ]
    # a member that is not a user here is refused, and nothing changes
    patch["Operations"] = [{"op": "add", "path": "members", "value": [{"value": "no-such-user"}]}]
    bad = scim("PATCH", f"/scim/v2/Groups/{group['id']}", patch)
    assert (
        bad.status_code == 400
        and bad.json()["schemas"] == [ERROR]
        and bad.json()["scimType"] == "invalidValue"
    )
    assert len(scim("GET", f"/scim/v2/Groups/{group['id']}").json()["members"]) == 1


def test_entra_provisioning_sequence(scim, api, org):
    boss = new_user(scim, "boss@example.com")
    ids = {"5d48a0a8e9f04aa38008": boss["id"]}
    made = {"create_user": "48af03ac28ad4fb88478", "create_group": "927fa2c08dcb4a7fae9e"}
    # the sequence adds the user it has just deleted to a group: a deleted user is no member
    # here (400), so the group steps use a user who still exists
    member = new_user(scim, "member@example.com")
    replies = replay(
        scim,
        "entra_sequence.json",
        ids,
        made,
        remap={"delete_user": {"48af03ac28ad4fb88478": member["id"]}},
    )
    assert (
        replies["test_connection"].json()
        == {
            "schemas": [LIST],
            "totalResults": 0,
            "startIndex": 1,
            "itemsPerPage": 0,
            "Resources": [],
        }
        or replies["test_connection"].json()["totalResults"] == 0
    )
    schemas = {s["id"] for s in replies["schema_discovery"].json()["Resources"]}
    assert {USER, ENTERPRISE, GROUP} <= schemas
    created = replies["create_user"].json()
    assert (
        created["userName"] == "zoe.angstrom@example.com"
        and created["externalId"] == "zoe.angstrom"
    )
    # the manager check (unquoted ids in the filter) found the pair once the manager was set
    assert replies["manager_reference_check"].status_code == 200
    # deprovisioning by the string "False", then a hard delete: gone from SCIM, kept (deactivated) here
    users = {u["id"]: u for u in api.get("/v1/users?limit=100", org.token).json()["items"]}
    zoe = users[created["id"]]
    assert zoe["status"] == "deactivated" and zoe["email"] == "zoe.berg@example.com"
    assert zoe["manager_id"] == boss["id"] and zoe["display_name"] == "Zoë Berg"
    assert zoe["attributes"]["employeeNumber"] == "1003"
    assert scim("GET", f"/scim/Users/{created['id']}").status_code == 404
    assert (
        scim("GET", "/scim/Users?filter=" + quote('userName eq "zoe.berg@example.com"')).json()[
            "totalResults"
        ]
        == 0
    )


def test_entra_steps_one_by_one(scim):
    """What each Entra step changes, checked after it, on a user of its own."""
    boss = new_user(scim, "manager@example.com")
    user = new_user(
        scim,
        "pat@example.com",
        name={"givenName": "Pat", "familyName": "Lee"},
        **{
            "schemas": [USER, ENTERPRISE],
            ENTERPRISE: {"department": "Audit", "manager": boss["id"]},
        },
    )
    assert (
        user[ENTERPRISE]["manager"]["value"] == boss["id"]
        and user[ENTERPRISE]["department"] == "Audit"
    )

    def patch(*ops):
        reply = scim(
            "PATCH",
            f"/scim/Users/{user['id']}",
            {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list(ops)},
        )
        assert reply.status_code in (200, 204), reply.text
        return scim("GET", f"/scim/Users/{user['id']}").json()

    now = patch({"op": "Replace", "path": "name.familyName", "value": "Lee-Berg"})
    assert now["name"]["familyName"] == "Lee-Berg"
    now = patch(
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "pat.b@example.com"},
        {"op": "Replace", "path": "userName", "value": "pat.b@example.com"},
    )
    assert now["userName"] == "pat.b@example.com"
    now = patch({"op": "Remove", "path": "manager"})
    assert "manager" not in now.get(ENTERPRISE, {})
    now = patch({"op": "Add", "path": "manager", "value": [{"$ref": None, "value": boss["id"]}]})
    assert now[ENTERPRISE]["manager"]["value"] == boss["id"]
    now = patch({"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Tax"})
    assert now[ENTERPRISE]["department"] == "Tax"
    assert patch({"op": "Replace", "path": "active", "value": "False"})["active"] is False
    assert patch({"op": "Replace", "path": "active", "value": "True"})["active"] is True


def test_filters_and_paging(scim):
    for i in range(7):
        new_user(
            scim,
            f"user{i}@example.net",
            displayName=f"User {i}",
            externalId=f"ext-{i}",
            emails=[{"value": f"user{i}@example.net", "type": "work"}],
            name={"givenName": "Ann" if i % 2 else "Bo", "familyName": f"F{i}"},
        )

    def find(expr, **params):
        reply = scim("GET", "/scim/v2/Users", params={"filter": expr, **params})
        assert reply.status_code == 200, reply.text
        return reply.json()

    def names(body):
        return sorted(r["userName"] for r in body.get("Resources", []))

    assert names(find('userName eq "USER3@example.net"')) == [
        "user3@example.net"
    ]  # userName is caseless
    assert names(find('externalId eq "ext-4"')) == ["user4@example.net"]
    assert find('externalId eq "EXT-4"')["totalResults"] == 0  # externalId is case-exact
    assert names(find("externalId eq ext-5")) == [
        "user5@example.net"
    ]  # unquoted, as Entra once sent
    assert names(find('emails.value eq "user1@example.net"')) == ["user1@example.net"]
    assert names(find('emails[type eq "work"].value eq "user2@example.net"')) == [
        "user2@example.net"
    ]
    assert find('displayName co "ser"')["totalResults"] == 7
    assert names(find('displayName sw "User 6"')) == ["user6@example.net"]
    assert names(find('name.givenName eq "Bo" and displayName sw "User"')) == [
        f"user{i}@example.net" for i in (0, 2, 4, 6)
    ]
    assert names(find('userName eq "user0@example.net" or externalId eq "ext-1"')) == [
        "user0@example.net",
        "user1@example.net",
    ]
    assert find('userName co "%"')["totalResults"] == 0  # LIKE wildcards are literal
    # paging: stable, 1-based, integers; 8 users in all (the owner too)
    pages = [
        scim("GET", "/scim/v2/Users", params={"startIndex": s, "count": 3}).json()
        for s in (1, 4, 7)
    ]
    assert [p["totalResults"] for p in pages] == [8, 8, 8] and [p["startIndex"] for p in pages] == [
        1,
        4,
        7,
    ]
    seen = [r["id"] for p in pages for r in p["Resources"]]
    assert len(seen) == len(set(seen)) == 8
    assert scim("GET", "/scim/v2/Users", params={"count": 0}).json()["totalResults"] == 8
    bad = scim("GET", "/scim/v2/Users", params={"filter": "userName eq"})
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidFilter"


def test_errors_auth_and_shared_rules(scim, api, org):
    # no key, a wrong key, and a key without the scim scope
    assert scim("GET", "/scim/v2/Users", token=None).status_code == 401
    assert scim("GET", "/scim/v2/Users", token="qyl_live_" + "x" * 40).status_code == 401
    assert scim("GET", "/scim/v2/Users", token=org.token).status_code == 403
    # discovery: the configuration needs no key; it announces what the server does
    config = scim("GET", "/scim/v2/ServiceProviderConfig", token=None).json()
    assert (
        config["patch"]["supported"]
        and config["filter"]["supported"]
        and not config["bulk"]["supported"]
    )
    types = {t["name"]: t for t in scim("GET", "/scim/v2/ResourceTypes").json()["Resources"]}
    assert types["User"]["schemaExtensions"][0]["schema"] == ENTERPRISE and "Group" in types
    # a duplicate gets 409 uniqueness; an unknown id 404; a userName that is no email 400
    new_user(scim, "dup@example.org")
    dup = scim(
        "POST",
        "/scim/v2/Users",
        {
            "schemas": [USER],
            "userName": "DUP@example.org",
            "emails": [{"value": "dup@example.org"}],
        },
    )
    assert (
        dup.status_code == 409
        and dup.json()["scimType"] == "uniqueness"
        and dup.json()["schemas"] == [ERROR]
    )
    assert scim("GET", "/scim/v2/Users/does-not-exist").status_code == 404
    # without an email (Qylon signs people in by email) a user is refused; a login that is not
    # an email is kept as the userName beside the email
    assert (
        scim("POST", "/scim/v2/Users", {"schemas": [USER], "userName": "jdoe"}).status_code == 400
    )
    jdoe = new_user(scim, "JDoe", emails=[{"value": "john.doe@example.org", "type": "work"}])
    assert jdoe["userName"] == "JDoe" and jdoe["emails"][0]["value"] == "john.doe@example.org"
    found = scim("GET", "/scim/v2/Users", params={"filter": 'userName eq "jdoe"'}).json()
    assert [r["id"] for r in found["Resources"]] == [jdoe["id"]]
    clash = scim(
        "POST",
        "/scim/v2/Users",
        {"schemas": [USER], "userName": "jdoe", "emails": [{"value": "other@example.org"}]},
    )
    assert clash.status_code == 409
    # the same rules as the import: the key's own user cannot be deactivated, the last owner stays
    owner = scim(
        "GET", "/scim/v2/Users", params={"filter": f'userName eq "{owner_email(api, org)}"'}
    ).json()["Resources"][0]
    off = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    refused = scim("PATCH", f"/scim/v2/Users/{owner['id']}", off)
    assert refused.status_code == 409 and "yourself" in refused.json()["detail"]
    assert scim("GET", f"/scim/v2/Users/{owner['id']}").json()["active"] is True
    # a manager loop is refused as invalidValue and changes nothing
    a = new_user(scim, "a@example.org")
    b = new_user(
        scim,
        "b@example.org",
        **{"schemas": [USER, ENTERPRISE], ENTERPRISE: {"manager": {"value": a["id"]}}},
    )
    loop = scim(
        "PATCH",
        f"/scim/v2/Users/{a['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": b["id"]}}
            ],
        },
    )
    assert loop.status_code == 400 and "loop" in loop.json()["detail"]
    assert ENTERPRISE not in scim("GET", f"/scim/v2/Users/{a['id']}").json()


def test_delete_then_create_brings_the_same_user_back(scim, api, org):
    user = new_user(scim, "back@example.org", displayName="Back")
    assert scim("DELETE", f"/scim/v2/Users/{user['id']}").status_code == 204
    assert scim("GET", f"/scim/v2/Users/{user['id']}").status_code == 404
    again = new_user(scim, "back@example.org", displayName="Back Again")
    assert (
        again["id"] == user["id"]
        and again["active"] is True
        and again["displayName"] == "Back Again"
    )
    actions = [
        e["action"]
        for e in api.get("/v1/audit-events?limit=200", org.token).json()["items"]
        if e["target_id"] == user["id"]
    ]
    assert "user.deactivate" in actions and "user.reactivate" in actions


def test_etags_guard_concurrent_replacements(scim):
    user = new_user(scim, "etag@example.org")
    got = scim("GET", f"/scim/v2/Users/{user['id']}")
    etag = got.headers["etag"]
    body = {**got.json(), "title": "Partner"}
    first = scim("PUT", f"/scim/v2/Users/{user['id']}", body, headers={"If-Match": etag})
    assert first.status_code == 200 and first.json()["title"] == "Partner"
    stale = scim(
        "PUT",
        f"/scim/v2/Users/{user['id']}",
        {**body, "title": "Intern"},
        headers={"If-Match": etag},
    )
    assert stale.status_code == 412
    assert scim("GET", f"/scim/v2/Users/{user['id']}").json()["title"] == "Partner"


def owner_email(api, org) -> str:
    return next(
        u["email"]
        for u in api.get("/v1/users?limit=100", org.token).json()["items"]
        if u["id"] == org.owner_id
    )


def test_scim_and_import_share_groups(scim, api, org):
    """A group made by SCIM is the same group an import names (case-insensitively)."""
    group = scim(
        "POST", "/scim/v2/Groups", {"schemas": [GROUP], "displayName": "Consulting"}
    ).json()
    reply = api.post(
        "/v1/users/bulk",
        org.token,
        headers={"Idempotency-Key": "scim-groups-1"},
        json={
            "items": [
                {
                    "action": "create",
                    "email": "imp@example.org",
                    "fields": {"groups": ["consulting"]},
                }
            ]
        },
    )
    assert reply.status_code == 200, reply.text
    members = scim("GET", f"/scim/v2/Groups/{group['id']}").json()["members"]
    assert [m["display"] for m in members] == ["imp@example.org"]
    assert re.fullmatch(r"[0-9a-f-]{36}", members[0]["value"])


def test_racing_creates_make_one_user(scim):
    """Identity providers retry and run in parallel: the same userName at once gives one
    user, and every other request a 409, never a 500."""
    from concurrent.futures import ThreadPoolExecutor

    body = {
        "schemas": [USER],
        "userName": "race@example.org",
        "emails": [{"value": "race@example.org"}],
    }
    with ThreadPoolExecutor(6) as pool:
        codes = sorted(
            pool.map(lambda _: scim("POST", "/scim/v2/Users", body).status_code, range(6))
        )
    assert codes.count(201) == 1 and set(codes) == {201, 409}, codes
    found = scim(
        "GET", "/scim/v2/Users", params={"filter": 'userName eq "race@example.org"'}
    ).json()
    assert found["totalResults"] == 1


def test_scim_changes_are_the_users_events(scim, api, org):
    made = new_user(scim, "scim-events@example.com")
    off = scim(
        "PATCH",
        f"/scim/v2/Users/{made['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
    )
    assert off.status_code in (200, 204), off.text
    page = api.get("/v1/events", org.token, params={"stream": f"user:{made['id']}"}).json()
    assert [(e["type"], e["data"].get("via")) for e in page["items"]] == [
        ("user.created", "scim"),
        ("user.deactivated", None),
    ]


def test_the_scim_library_loads_at_the_first_scim_request(tmp_path):
    """scim2-server and scim2-models (a fifth of a server's start-up) are imported when an
    identity provider first calls, not when the server starts."""
    code = f"""
import asyncio, sys, httpx2
from qylon_server.app import create_app
from qylon_server.config import ServerSettings
app = create_app(ServerSettings(database_url="sqlite:///{tmp_path}/q.db", secret_key="k" * 40))
assert not any(m.startswith(("scim2_", "qylon_server.scim.app")) for m in sys.modules)

async def ask():
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://q") as http:
        return await http.get("/scim/v2/ServiceProviderConfig")

answer = asyncio.run(ask())
assert answer.status_code == 200, answer.text
assert answer.json()["patch"]["supported"] is True
assert "scim2_models" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
