"""One person, one group at a time through the API (POST/PATCH /v1/users, /v1/groups):
the bulk import's rules, and exactly one audit event per change, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def events(api, token, **params) -> list[dict]:
    page = api.get("/v1/audit-events", token, params={"limit": 200, **params})
    assert page.status_code == 200, page.text
    return page.json()["items"]


def users(api, token) -> dict[str, dict]:
    return {u["email"]: u for u in api.get("/v1/users?limit=1000", token).json()["items"]}


def test_add_and_update_one_person_with_one_audit_event_each(api, org):
    t = org.token
    me = api.get("/v1/me", t).json()["user"]
    assert api.post("/v1/groups", t, json={"name": "Sales"}).status_code == 201
    bob = api.post("/v1/users", t, json={"email": "bob@example.com"}).json()
    before = len(events(api, t))

    made = api.post(
        "/v1/users",
        t,
        json={
            "email": "Ann@Example.com",
            "given_name": "Ann",
            "display_name": "Ann Lee",
            "role": "manager",
            "manager_email": me["email"],
            "title": "Rep",
            "department": "Sales",
            "location": "London",
            "phone": "+447700900123",
            "start_date": "2026-03-15",
            "groups": ["sales"],
            "attributes": {"badge": "B7"},
        },
    )
    assert made.status_code == 201, made.text
    ann = made.json()
    assert ann["email"] == "ann@example.com" and ann["manager_id"] == me["id"]
    assert ann["groups"] == ["Sales"] and ann["location"] == "London"
    assert ann["attributes"] == {"badge": "B7"} and ann["status"] == "invited"
    new = events(api, t)[: len(events(api, t)) - before]
    assert [(e["action"], e["target_id"]) for e in new] == [("user.invite", ann["id"])]
    assert new[0]["detail"]["via"] == "api"

    others = {k: v for k, v in users(api, t).items() if k != "ann@example.com"}
    changed = api.patch(f"/v1/users/{ann['id']}", t, json={"title": "Head of Sales"})
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["title"] == "Head of Sales"
    assert {k: v for k, v in after.items() if k != "title"} == {
        k: v for k, v in ann.items() if k != "title"
    }
    latest = events(api, t, limit=1)[0]
    assert (latest["action"], latest["target_id"], latest["detail"]["fields"]) == (
        "user.update",
        ann["id"],
        ["title"],
    )
    # null clears a field (JSON merge patch); the manager and groups too
    cleared = api.patch(
        f"/v1/users/{ann['id']}",
        t,
        json={"department": None, "manager_email": bob["email"], "groups": None},
    ).json()
    assert cleared["department"] is None and cleared["manager_id"] == bob["id"]
    assert cleared["groups"] is None and cleared["title"] == "Head of Sales"
    assert events(api, t, limit=1)[0]["detail"]["fields"] == ["department", "groups", "manager_id"]
    # the same values again: nothing changes, no event
    count = len(events(api, t))
    same = api.patch(f"/v1/users/{ann['id']}", t, json={"title": "Head of Sales"})
    assert same.status_code == 200 and len(events(api, t)) == count
    # nobody else changed
    assert {k: v for k, v in users(api, t).items() if k != "ann@example.com"} == others


def test_refusals_change_nothing(api, org):
    owner = org.token
    admin = api.make_user(owner, "admin", ["read", "write", "admin"])
    me = api.get("/v1/me", owner).json()["user"]
    ann = api.post("/v1/users", owner, json={"email": "ann@example.com"}).json()
    count = len(events(api, owner))

    def patch(token, user_id, body):
        return api.patch(f"/v1/users/{user_id}", token, json=body)

    # ranks: an admin cannot make an owner, nor change one
    above = patch(admin, ann["id"], {"role": "owner"})
    assert above.status_code == 403 and above.json()["error"]["code"] == "not_allowed"
    assert patch(admin, me["id"], {"title": "Boss"}).status_code == 403
    assert (
        api.post("/v1/users", admin, json={"email": "o@example.com", "role": "owner"}).status_code
        == 403
    )
    # the last owner stays an owner
    last = patch(owner, me["id"], {"role": "member"})
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_owner"
    # bad values, unknown manager and group, a loop of managers
    assert patch(owner, ann["id"], {"role": "boss"}).status_code == 422
    assert patch(owner, ann["id"], {"role": None}).status_code == 422
    assert patch(owner, ann["id"], {"active": False}).status_code == 422
    unknown = patch(owner, ann["id"], {"manager_email": "nobody@example.com"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "manager_not_found"
    group = patch(owner, ann["id"], {"groups": ["Nope"]})
    assert group.status_code == 422 and group.json()["error"]["code"] == "group_not_found"
    assert "qylon groups create" in group.json()["error"]["hint"]
    assert patch(owner, me["id"], {"manager_email": "ann@example.com"}).status_code == 200
    loop = patch(owner, ann["id"], {"manager_email": me["email"]})
    assert loop.status_code == 422 and loop.json()["error"]["code"] == "manager_cycle"
    assert patch(owner, "no-such-id", {"title": "x"}).status_code == 404
    taken = api.post("/v1/users", owner, json={"email": "ANN@example.com"})
    assert taken.status_code == 409
    both = api.post(
        "/v1/users",
        owner,
        json={"email": "x@example.com", "manager_id": me["id"], "manager_email": me["email"]},
    )
    assert both.status_code == 422
    # only the one accepted change (the owner's manager) was recorded
    assert len(events(api, owner)) == count + 1
    assert api.get(f"/v1/users/{ann['id']}", owner).json()["role"] == "member"
    # within the rules an admin may give their own rank
    assert patch(admin, ann["id"], {"role": "admin"}).json()["role"] == "admin"


def test_groups_one_change_one_event(api, org):
    owner = org.token
    admin = api.make_user(owner, "admin", ["read", "write", "admin"])
    me = api.get("/v1/me", owner).json()["user"]
    ann = api.post("/v1/users", owner, json={"email": "ann@example.com"}).json()

    made = api.post("/v1/groups", admin, json={"name": "Sales EMEA"})
    assert made.status_code == 201, made.text
    group = made.json()
    assert group["members"] == 0
    assert events(api, owner, limit=1)[0]["action"] == "group.create"
    assert api.post("/v1/groups", admin, json={"name": "sales emea"}).status_code == 409
    assert api.post("/v1/groups", admin, json={"name": " "}).status_code == 422

    count = len(events(api, owner))
    path = f"/v1/groups/{group['id']}/members/{ann['id']}"
    added = api.put(path, admin)
    assert added.status_code == 200 and added.json()["members"] == 1
    assert api.get(f"/v1/users/{ann['id']}", owner).json()["groups"] == ["Sales EMEA"]
    event = events(api, owner, limit=1)[0]
    assert (event["action"], event["target_id"], event["detail"]["added"]) == (
        "group.update",
        group["id"],
        [ann["id"]],
    )
    assert api.put(path, admin).json()["members"] == 1  # already in: no change, no event
    assert len(events(api, owner)) == count + 1
    # an admin cannot change the memberships of an owner
    assert api.put(f"/v1/groups/{group['id']}/members/{me['id']}", admin).status_code == 403
    shown = api.get(f"/v1/groups/{group['id']}", admin).json()
    assert [u["email"] for u in shown["users"]] == ["ann@example.com"]

    assert api.call("DELETE", path, admin).json()["members"] == 0
    assert api.get(f"/v1/users/{ann['id']}", owner).json()["groups"] is None
    assert events(api, owner, limit=1)[0]["detail"]["removed"] == [ann["id"]]
    assert api.put(path, admin).status_code == 200
    gone = api.call("DELETE", f"/v1/groups/{group['id']}", admin)
    assert gone.status_code == 204
    assert api.get(f"/v1/groups/{group['id']}", admin).status_code == 404
    assert api.get(f"/v1/users/{ann['id']}", owner).json()["groups"] is None
    assert events(api, owner, limit=1)[0]["action"] == "group.delete"
    assert len(events(api, owner)) == count + 4  # add, remove, add, delete
    assert api.put(path, admin).status_code == 404


def test_audit_events_since_and_target(api, org):
    t = org.token
    ann = api.post("/v1/users", t, json={"email": "ann@example.com"}).json()
    api.patch(f"/v1/users/{ann['id']}", t, json={"title": "Rep"})
    about = events(api, t, target_id=ann["id"])
    assert [e["action"] for e in about] == ["user.update", "user.invite"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert events(api, t, since=future) == []
    past = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert len(events(api, t, since=past, target_id=ann["id"])) == 2
