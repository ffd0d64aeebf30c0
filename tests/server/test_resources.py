"""The /v1 resources through the real app: clients, meetings, action items, users, audit."""

from __future__ import annotations

import uuid

from .test_permissions import meeting_body


def test_clients_crud_search_pagination_tags_notes(api, org):
    t = org.token
    made = [
        api.post(
            "/v1/clients",
            t,
            json={"name": f"Client {i:02d}", "tags": ["retail" if i % 2 else "bank"]},
        ).json()
        for i in range(7)
    ]
    dup = api.post("/v1/clients", t, json={"name": "client 03"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "conflict"
    page = api.get("/v1/clients?limit=3&offset=3", t).json()
    assert page["total"] == 7 and [c["name"] for c in page["items"]] == [
        "Client 03",
        "Client 04",
        "Client 05",
    ]
    assert api.get("/v1/clients?q=ENT 06", t).json()["items"][0]["name"] == "Client 06"
    assert api.get("/v1/clients?tag=retail", t).json()["total"] == 3
    cid = made[0]["id"]
    upd = api.patch(
        f"/v1/clients/{cid}", t, json={"notes": "Prefers mornings", "tags": ["vip", "bank", "vip"]}
    ).json()
    assert upd["notes"] == "Prefers mornings" and upd["tags"] == ["bank", "vip"]
    assert api.patch(f"/v1/clients/{cid}", t, json={"name": "Client 01"}).status_code == 409
    archived = api.post(f"/v1/clients/{cid}/archive", t).json()
    assert archived["status"] == "archived" and archived["archived_at"]
    assert api.get("/v1/clients", t).json()["total"] == 6
    assert api.get("/v1/clients?status=archived", t).json()["items"][0]["id"] == cid
    assert api.post(f"/v1/clients/{cid}/restore", t).json()["status"] == "active"
    bad = api.post("/v1/clients", t, json={"name": ""})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    assert "name" in bad.json()["error"]["message"]
    assert api.get(f"/v1/clients/{uuid.uuid4()}", t).status_code == 404


def test_meeting_put_is_idempotent_and_links_the_client(api, org):
    t = org.token
    client = api.post("/v1/clients", t, json={"name": "Acme"}).json()
    mid = str(uuid.uuid4())
    body = meeting_body(mid, "acme")
    first = api.put(f"/v1/meetings/{mid}", t, json=body)
    assert first.status_code == 201 and first.json() == {
        "id": mid,
        "created": True,
        "changed": True,
        "client_id": client["id"],
    }
    again = api.put(f"/v1/meetings/{mid}", t, json=body)
    assert again.status_code == 200 and again.json()["changed"] is False
    assert api.get("/v1/meetings", t).json()["total"] == 1
    got = api.get(f"/v1/meetings/{mid}", t).json()
    assert got["segments"][0]["text"] == "Let us begin." and got["speakers"][0]["name"] == "Ana"
    assert got["action_items"][0]["task"] == "Send the proposal"
    # An edit replaces the content; a server-side "done" survives a re-send as "open".
    assert (
        api.patch(f"/v1/action-items/{mid}/a1", t, json={"status": "done"}).json()["status"]
        == "done"
    )
    body["title"] = "Weekly sync (edited)"
    assert api.put(f"/v1/meetings/{mid}", t, json=body).json() == {
        "id": mid,
        "created": False,
        "changed": True,
        "client_id": client["id"],
    }
    got = api.get(f"/v1/meetings/{mid}", t).json()
    assert got["title"] == "Weekly sync (edited)" and got["action_items"][0]["status"] == "done"
    mismatch = api.put(f"/v1/meetings/{uuid.uuid4()}", t, json=body)
    assert mismatch.status_code == 422
    assert (
        api.put("/v1/meetings/not-a-uuid", t, json=body | {"id": "not-a-uuid"}).status_code == 422
    )


def test_action_items_across_meetings_with_filters(api, org):
    t = org.token
    api.post("/v1/clients", t, json={"name": "Globex"})
    for i, (client, owner) in enumerate([("Globex", "Ana"), ("Globex", "Ben"), ("Initech", "Ana")]):
        mid = str(uuid.uuid4())
        body = meeting_body(mid, client)
        body["action_items"] = [{"id": f"a{i}", "owner": owner, "task": f"Task {i}"}]
        api.put(f"/v1/meetings/{mid}", t, json=body)
    assert api.get("/v1/action-items", t).json()["total"] == 3
    assert api.get("/v1/action-items?owner=ana", t).json()["total"] == 2
    globex = api.get("/v1/action-items?client=Globex", t).json()["items"]
    assert {i["owner"] for i in globex} == {"Ana", "Ben"} and all(i["client_id"] for i in globex)
    item = globex[0]
    api.patch(f"/v1/action-items/{item['meeting_id']}/{item['id']}", t, json={"status": "done"})
    assert api.get("/v1/action-items?status=done", t).json()["total"] == 1
    assert api.get("/v1/action-items?status=open&owner=Ana&client=Initech", t).json()["total"] == 1
    assert (
        api.patch(
            f"/v1/action-items/{item['meeting_id']}/nope", t, json={"status": "done"}
        ).status_code
        == 404
    )


def test_users_invite_list_get(api, org):
    t = org.token
    invited = api.post(
        "/v1/users",
        t,
        json={
            "email": "Zoe@Example.com",
            "given_name": "Zoe",
            "family_name": "Ng",
            "role": "manager",
            "title": "Principal",
            "department": "Strategy",
            "manager_id": org.owner_id,
            "external_id": "okta-1",
        },
    ).json()
    assert invited["email"] == "zoe@example.com" and invited["status"] == "invited"
    assert api.post("/v1/users", t, json={"email": "zoe@example.com"}).status_code == 409
    assert (
        api.post(
            "/v1/users", t, json={"email": "other@example.com", "external_id": "okta-1"}
        ).status_code
        == 409
    )
    assert api.post("/v1/users", t, json={"email": "not-an-email"}).status_code == 422
    assert api.get(f"/v1/users/{invited['id']}", t).json()["department"] == "Strategy"
    assert api.get("/v1/users?q=zoe", t).json()["total"] == 1
    assert api.get("/v1/users?status=invited", t).json()["total"] == 1
    # Empty optional fields are "not given" (found by schemathesis: two "" external ids collided).
    for email in ("e1@example.com", "e2@example.com"):
        made = api.post(
            "/v1/users", t, json={"email": email, "external_id": "", "manager_id": "", "title": " "}
        )
        assert (
            made.status_code == 201
            and made.json()["external_id"] is None
            and made.json()["title"] is None
        )


def test_users_page_by_keyset_after_an_email(api, org):
    t = org.token
    for email in ("c@example.com", "A@example.com", "b@example.com"):
        assert api.post("/v1/users", t, json={"email": email}).status_code == 201
    every = [u["email"] for u in api.get("/v1/users?limit=10", t).json()["items"]]
    seen, after = [], None
    while True:
        page = api.get(
            "/v1/users", t, params={"limit": 2, **({"after": after} if after else {})}
        ).json()
        assert page["total"] == (4 if after is None else None)  # keyset pages are not counted
        seen += [u["email"] for u in page["items"]]
        if len(page["items"]) < 2:
            break
        after = page["items"][-1]["email"]
    assert seen == every and len(seen) == 4
    assert (
        api.get("/v1/users", t, params={"after": "B@Example.com"}).json()["items"][0]["email"]
        == "c@example.com"
    )


def test_audit_events_record_who_what_and_which_key(api, org):
    t = org.token
    key_id = api.get("/v1/me", t).json()["key"]["id"]
    cid = api.post("/v1/clients", t, json={"name": "Audited"}).json()["id"]
    api.patch(f"/v1/clients/{cid}", t, json={"notes": "x"})
    events = api.get("/v1/audit-events?limit=5", t).json()["items"]
    assert [e["action"] for e in events[:2]] == ["client.update", "client.create"]
    assert events[0]["api_key_id"] == key_id and events[0]["actor_user_id"] == org.owner_id
    assert api.get("/v1/audit-events?action=client.create", t).json()["total"] == 1
    assert api.call("DELETE", "/v1/audit-events", t).status_code == 405


def test_health_ready_openapi_and_json_errors(api, org):
    assert api.get("/health").json()["status"] == "ok"
    ready = api.get("/ready", org.token).json()
    assert ready["status"] == "ready" and ready["schema_revision"]
    spec = api.get("/openapi.json").json()
    assert "/v1/meetings/{meeting_id}" in spec["paths"] and "/v1/clients" in spec["paths"]
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_meetings_naming_a_client_before_it_exists_are_linked_when_it_is_created(api, org):
    t = org.token
    mid = str(uuid.uuid4())
    assert (
        api.put(f"/v1/meetings/{mid}", t, json=meeting_body(mid, "Later Ltd")).json()["client_id"]
        is None
    )
    client = api.post("/v1/clients", t, json={"name": "later ltd"}).json()
    assert api.get(f"/v1/meetings?client={client['id']}", t).json()["total"] == 1
    assert api.get(f"/v1/action-items?client={client['id']}", t).json()["total"] == 1
