"""POST /v1/users/bulk: one transaction per batch, idempotency keys, the provisioning rules."""

from __future__ import annotations

import secrets
from types import SimpleNamespace

import pytest
from qylon_server.models import User
from qylon_server.services.provisioning import Provisioner
from sqlalchemy import text

from .harness import Database


def key() -> str:
    return "test-" + secrets.token_hex(8)


def bulk(api, token, items, idem=None, create_groups=True):
    return api.post(
        "/v1/users/bulk",
        token,
        json={"items": items, "create_groups": create_groups},
        headers={"Idempotency-Key": idem or key()},
    )


def users(api, token):
    return {u["email"]: u for u in api.get("/v1/users?limit=200", token).json()["items"]}


def test_bulk_creates_updates_and_replays_by_key(api, org, backend):
    t = org.token
    items = [
        {
            "action": "create",
            "email": "Boss@Example.com",
            "fields": {
                "given_name": "Bo",
                "role": "manager",
                "groups": ["b", "a"],
                "attributes": {"cost": "7"},
            },
        },
        {
            "action": "create",
            "email": "ann@example.com",
            "fields": {
                "manager_email": "boss@example.com",
                "phone": "+447700900123",
                "start_date": "2026-01-05",
            },
        },
    ]
    idem = key()
    first = bulk(api, t, items, idem)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["counts"] == {"created": 2} and body["replayed"] is False
    again = bulk(api, t, items, idem)
    assert again.json()["replayed"] is True and again.json()["results"] == body["results"]
    now = users(api, t)
    assert now["ann@example.com"]["manager_id"] == now["boss@example.com"]["id"]
    assert now["boss@example.com"]["groups"] == ["a", "b"] and now["boss@example.com"][
        "attributes"
    ] == {"cost": "7"}
    assert len(now) == 3  # the owner and the two created; the replay made nothing
    # the same key with another batch is refused
    other = bulk(api, t, [{"action": "deactivate", "email": "ann@example.com"}], idem)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    upd = bulk(
        api,
        t,
        [
            {
                "action": "update",
                "email": "ann@example.com",
                "fields": {"title": "Lead", "phone": "+447700900123"},
            },
            {"action": "update", "email": "boss@example.com", "fields": {"given_name": "Bo"}},
        ],
    )
    assert [r["outcome"] for r in upd.json()["results"]] == ["updated", "unchanged"]
    assert upd.json()["results"][0]["changed"] == ["title"]
    # invitations and audit events were recorded on the server
    events = api.get("/v1/audit-events?limit=200", t).json()["items"]
    actions = [e["action"] for e in events]
    assert actions.count("user.create") == 2 and actions.count("user.update") == 1
    db = Database(backend.admin_url)
    try:
        from qylon_server.models import Invitation
        from sqlalchemy import select

        with db.session(org.id) as s:
            invited = sorted(i.email for i in s.scalars(select(Invitation)))
    finally:
        db.dispose()
    assert invited == ["ann@example.com", "boss@example.com"]


def test_groups_must_exist_unless_created_and_are_listed(api, org):
    t = org.token
    item = {"action": "create", "email": "g@example.com", "fields": {"groups": ["Sales", "EMEA"]}}
    refused = bulk(api, t, [item], create_groups=False)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "group_not_found"
    assert "Sales" in refused.json()["error"]["message"] and "g@example.com" not in users(api, t)
    assert bulk(api, t, [item]).status_code == 200
    # names match case-insensitively: the existing groups are used, not doubled
    other = {"action": "create", "email": "h@example.com", "fields": {"groups": ["sales"]}}
    assert bulk(api, t, [other], create_groups=False).status_code == 200
    listed = api.get("/v1/groups", t).json()
    assert listed["total"] == 2
    assert [(g["name"], g["members"]) for g in listed["items"]] == [("EMEA", 1), ("Sales", 2)]
    assert users(api, t)["h@example.com"]["groups"] == ["Sales"]
    # taking a user out of a group updates both sides
    assert (
        bulk(
            api, t, [{"action": "update", "email": "g@example.com", "fields": {"groups": ["EMEA"]}}]
        ).status_code
        == 200
    )
    assert {g["name"]: g["members"] for g in api.get("/v1/groups", t).json()["items"]} == {
        "EMEA": 1,
        "Sales": 1,
    }


def test_a_refused_item_changes_nothing_in_its_batch(api, org):
    t = org.token
    owner_email = api.get("/v1/me", t).json()["user"]["email"]
    for bad, code in [
        (
            [
                {"action": "create", "email": "x1@example.com"},
                {"action": "create", "email": "X1@example.com"},
            ],
            "conflict",
        ),
        (
            [
                {
                    "action": "create",
                    "email": "x2@example.com",
                    "fields": {"manager_email": "nobody@example.com"},
                }
            ],
            "manager_not_found",
        ),
        ([{"action": "deactivate", "email": owner_email}], "conflict"),
        (
            [
                {"action": "create", "email": "x3@example.com"},
                {"action": "update", "email": "gone@example.com"},
            ],
            "not_found",
        ),
    ]:
        r = bulk(api, t, bad)
        assert r.status_code in (404, 409, 422), r.text
        assert r.json()["error"]["code"] == code
        assert "Item" in r.json()["error"]["message"]
    assert set(users(api, t)) == {owner_email}


def test_manager_cycles_last_owner_and_roles(api, org):
    t = org.token
    assert (
        bulk(
            api,
            t,
            [
                {"action": "create", "email": "a@example.com"},
                {
                    "action": "create",
                    "email": "b@example.com",
                    "fields": {"manager_email": "a@example.com"},
                },
                {
                    "action": "create",
                    "email": "c@example.com",
                    "fields": {"manager_email": "b@example.com"},
                },
            ],
        ).status_code
        == 200
    )
    loop = bulk(
        api,
        t,
        [
            {
                "action": "update",
                "email": "a@example.com",
                "fields": {"manager_email": "c@example.com"},
            }
        ],
    )
    assert loop.status_code == 422 and loop.json()["error"]["code"] == "manager_cycle"
    admin = api.make_user(t, "admin")
    owner_email = api.get("/v1/me", t).json()["user"]["email"]
    # an admin may neither make an owner nor deactivate the owner
    assert (
        bulk(
            api,
            admin,
            [{"action": "create", "email": "o@example.com", "fields": {"role": "owner"}}],
        ).status_code
        == 403
    )
    assert bulk(api, admin, [{"action": "deactivate", "email": owner_email}]).status_code == 403
    # the owner cannot step down when they are the last one
    last = bulk(api, t, [{"action": "update", "email": owner_email, "fields": {"role": "admin"}}])
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_owner"
    # deactivate then reactivate (bulk and the route)
    done = bulk(api, t, [{"action": "deactivate", "email": "c@example.com"}])
    assert done.json()["results"][0]["outcome"] == "deactivated"
    c = users(api, t)["c@example.com"]
    assert c["status"] == "deactivated"
    back = api.post(f"/v1/users/{c['id']}/reactivate", t)
    assert back.status_code == 200 and back.json()["status"] == "active"
    member = api.make_user(t, "member")
    assert bulk(api, member, [{"action": "create", "email": "m@example.com"}]).status_code == 403


def test_bulk_needs_a_key_and_valid_items(api, org):
    t = org.token
    r = api.post(
        "/v1/users/bulk", t, json={"items": [{"action": "create", "email": "k@example.com"}]}
    )
    assert r.status_code == 422
    r = bulk(api, t, [{"action": "explode", "email": "k@example.com"}])
    assert r.status_code == 422
    r = bulk(api, t, [])
    assert r.status_code == 422


def test_idempotency_keys_and_users_belong_to_one_organisation(api, org, other_org):
    idem = key()
    mine = bulk(api, org.token, [{"action": "create", "email": "same@example.com"}], idem)
    theirs = bulk(api, other_org.token, [{"action": "create", "email": "same@example.com"}], idem)
    assert mine.status_code == theirs.status_code == 200
    assert theirs.json()["replayed"] is False  # another organisation's key is not ours to replay
    assert mine.json()["results"][0]["user_id"] != theirs.json()["results"][0]["user_id"]
    # a manager in another organisation is not found
    r = bulk(
        api,
        org.token,
        [
            {
                "action": "create",
                "email": "x@example.com",
                "fields": {
                    "manager_email": api.get("/v1/me", other_org.token).json()["user"]["email"]
                },
            }
        ],
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "manager_not_found"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_user_look_ups_stay_index_probes_while_the_table_has_no_statistics(api, org, backend):
    """Right after a big import PostgreSQL has no statistics on users yet: each batch's
    look-ups by email must still probe the (org_id, email) index, not scan every user of
    the organisation, and plans are made afresh (never a generic one kept from when the
    table was small)."""
    for start in (0, 1000):
        items = [
            {"action": "create", "email": f"p{i}@example.com"} for i in range(start, start + 1000)
        ]
        assert bulk(api, org.token, items).status_code == 200
    db = Database(backend.url)
    try:
        with db.session(org.id) as s:
            assert s.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
            provisioner = Provisioner(s, SimpleNamespace(org_id=org.id, user=None))
            stmt = provisioner._each(User.email, [f"p{i}@example.com" for i in range(0, 2000, 4)])
            compiled = stmt.compile(dialect=s.get_bind().dialect)
            plan = "\n".join(
                r[0]
                for r in s.connection().exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
            )
            assert "Index Scan using uq_users_org_email" in plan and "Bitmap" not in plan, plan
            assert len(s.scalars(stmt).all()) == 500
    finally:
        db.dispose()


def stream_types(api, token, user_id) -> list[tuple[str, int]]:
    page = api.get("/v1/events", token, params={"stream": f"user:{user_id}"}).json()
    return [(e["type"], e["version"]) for e in page["items"]]


def test_a_bulk_batch_writes_each_users_events(api, org):
    t = org.token
    made = bulk(
        api,
        t,
        [
            {"action": "create", "email": "ev1@example.com", "fields": {"role": "member"}},
            {"action": "create", "email": "ev2@example.com"},
            {"action": "deactivate", "email": "ev2@example.com"},  # the same batch
        ],
    )
    assert made.status_code == 200, made.text
    people = users(api, t)
    one, two = people["ev1@example.com"]["id"], people["ev2@example.com"]["id"]
    assert stream_types(api, t, two) == [("user.created", 1), ("user.deactivated", 2)]
    changed = bulk(
        api,
        t,
        [
            {"action": "update", "email": "ev1@example.com", "fields": {"role": "manager"}},
            {"action": "update", "email": "ev1@example.com", "fields": {"role": "manager"}},
            {"action": "reactivate", "email": "ev2@example.com"},
        ],
    )
    assert changed.status_code == 200, changed.text
    assert stream_types(api, t, one) == [("user.created", 1), ("user.role_changed", 2)]
    assert stream_types(api, t, two)[-1] == ("user.reactivated", 3)
    page = api.get("/v1/events", t, params={"stream": f"user:{one}"}).json()["items"]
    assert page[0]["data"]["via"] == "bulk"
    assert page[1]["data"] == {"email": "ev1@example.com", "from": "member", "to": "manager"}
