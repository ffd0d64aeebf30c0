"""The tenancy contract: the same cross-tenant attacks on SQLite and on PostgreSQL.

Another organisation's objects are 404, never 403, and never appear in lists. On
PostgreSQL, a query that skips the data layer's filter (a forgotten filter, raw SQL)
is still stopped by row-level security.
"""

from __future__ import annotations

import uuid

import pytest
from qylon_server.db import Database, TenantNotSet
from qylon_server.models import AuditEvent, Client, Meeting
from sqlalchemy import select, text, update

from .test_permissions import meeting_body


@pytest.fixture
def victim(api, other_org):
    token = other_org.token
    client = api.post(
        "/v1/clients", token, json={"name": "Secret Client", "notes": "confidential"}
    ).json()
    meeting = str(uuid.uuid4())
    assert (
        api.put(
            f"/v1/meetings/{meeting}", token, json=meeting_body(meeting, "Secret Client")
        ).status_code
        == 201
    )
    key = api.get("/v1/api-keys", token).json()[0]
    return {
        "org": other_org,
        "client": client["id"],
        "meeting": meeting,
        "key": key["id"],
        "user": other_org.owner_id,
    }


def test_other_tenants_objects_are_404(api, org, victim):
    me = org.token
    for method, path, body in [
        ("GET", f"/v1/clients/{victim['client']}", None),
        ("PATCH", f"/v1/clients/{victim['client']}", {"notes": "pwned"}),
        ("POST", f"/v1/clients/{victim['client']}/archive", None),
        ("GET", f"/v1/meetings/{victim['meeting']}", None),
        ("PATCH", f"/v1/action-items/{victim['meeting']}/a1", {"status": "done"}),
        ("GET", f"/v1/users/{victim['user']}", None),
        ("POST", f"/v1/users/{victim['user']}/deactivate", None),
        ("GET", f"/v1/api-keys/{victim['key']}", None),
        ("POST", f"/v1/api-keys/{victim['key']}/revoke", None),
        ("POST", f"/v1/api-keys/{victim['key']}/rotate", {"grace_seconds": 0}),
        (
            "POST",
            "/v1/api-keys",
            {"name": "backdoor", "scopes": ["read"], "user_id": victim["user"]},
        ),
        ("POST", "/v1/users", {"email": "spy@example.com", "manager_id": victim["user"]}),
    ]:
        r = api.call(method, path, me, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_found"
    # Nothing changed on the victim's side.
    theirs = victim["org"].token
    assert api.get(f"/v1/clients/{victim['client']}", theirs).json()["notes"] == "confidential"
    assert api.get(f"/v1/users/{victim['user']}", theirs).json()["status"] == "active"
    assert api.get("/v1/me", theirs).status_code == 200


def test_lists_never_show_other_tenants(api, org, victim):
    me = org.token
    assert api.get("/v1/clients?status=all&q=secret", me).json()["total"] == 0
    assert api.get("/v1/meetings", me).json()["total"] == 0
    assert api.get("/v1/action-items", me).json()["total"] == 0
    assert all(u["id"] != victim["user"] for u in api.get("/v1/users", me).json()["items"])
    assert all(k["id"] != victim["key"] for k in api.get("/v1/api-keys?all_users=true", me).json())
    assert api.get(f"/v1/api-keys?user_id={victim['user']}", me).json() == []
    assert all(
        e["target_id"] != victim["client"]
        for e in api.get("/v1/audit-events?limit=200", me).json()["items"]
    )


def test_same_meeting_id_in_two_tenants_stays_separate(api, org, victim):
    """A tenant PUTting another tenant's meeting id gets its own meeting, never theirs."""
    body = meeting_body(victim["meeting"], None) | {"title": "Mine"}
    r = api.put(f"/v1/meetings/{victim['meeting']}", org.token, json=body)
    assert r.status_code == 201 and r.json()["created"] is True
    assert api.get(f"/v1/meetings/{victim['meeting']}", org.token).json()["title"] == "Mine"
    assert (
        api.get(f"/v1/meetings/{victim['meeting']}", victim["org"].token).json()["title"]
        == "Weekly sync"
    )


def test_creating_a_client_with_another_tenants_name_is_fine(api, org, victim):
    assert api.post("/v1/clients", org.token, json={"name": "Secret Client"}).status_code == 201


def test_data_layer_filters_every_orm_query(backend, org, victim):
    db = Database(backend.url)
    try:
        with db.session(org.id) as s:
            assert s.scalars(select(Client)).all() == []
            assert s.get(Client, victim["client"]) is None
            s.execute(update(Client).values(notes="overwritten"))  # bulk update, no filter written
            assert s.scalars(select(Meeting)).all() == []
        with db.session(victim["org"].id) as s:
            assert s.get(Client, victim["client"]).notes == "confidential"
        with pytest.raises(TenantNotSet), db.session(None) as s:
            s.scalars(select(Client)).all()
    finally:
        db.dispose()


@pytest.mark.parametrize(
    "backend", ["postgres"], indirect=True
)  # RLS is PostgreSQL's; SQLite relies on the data layer
def test_forgotten_filter_is_stopped_by_rls_on_postgres(backend, org, victim):
    """Skip the data-layer filter and use raw SQL: PostgreSQL's policies still hide other orgs."""
    db = Database(backend.url)
    try:
        assert not db.role_bypasses_rls()
        with db.session(org.id) as s:
            unfiltered = s.scalars(
                select(Client), execution_options={"skip_tenant_filter": True}
            ).all()
            assert unfiltered == []
            assert s.execute(text("SELECT count(*) FROM clients")).scalar() == 0
            assert s.execute(text("SELECT count(*) FROM meetings")).scalar() == 0
            assert (
                s.execute(
                    text("SELECT count(*) FROM users WHERE org_id <> :o"), {"o": org.id}
                ).scalar()
                == 0
            )
            assert s.execute(text("SELECT count(*) FROM organisations")).scalar() == 1
            assert (
                s.execute(
                    text("SELECT count(*) FROM api_keys WHERE org_id <> :o"), {"o": org.id}
                ).scalar()
                == 0
            )
            changed = s.execute(
                text("UPDATE clients SET notes = 'pwned' WHERE id = :id"), {"id": victim["client"]}
            )
            assert changed.rowcount == 0
        with pytest.raises(Exception, match="row-level security|violates"), db.session(org.id) as s:
            s.execute(
                text(
                    "INSERT INTO clients (id, org_id, name, tags, status, created_at, updated_at) "
                    "VALUES (:id, :org, 'Planted', '[]', 'active', now(), now())"
                ),
                {"id": str(uuid.uuid4()), "org": victim["org"].id},
            )
        with db.session(None) as s:  # no organisation at all: nothing visible
            assert s.execute(text("SELECT count(*) FROM clients")).scalar() == 0
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_sessions_settings_and_transaction_end_with_it_on_postgres(backend, org, victim):
    """Each session's transaction opens with its tenant settings in the same round trip as
    its BEGIN (db._rls_settings): the transaction still rolls back whole, a strange
    organisation id is a value and never SQL, and the pooled connection goes to its next
    user in its normal mode with no organisation set."""
    db = Database(backend.url, pool_size=1)
    try:
        with pytest.raises(RuntimeError), db.session(org.id) as s:
            s.add(Client(name="First"))
            s.flush()
            s.add(Client(name="Second"))
            s.flush()
            raise RuntimeError("the request failed")
        with db.session(org.id) as s:
            assert s.scalars(select(Client.name)).all() == []
            s.add(Client(name="Kept"))
        with db.session("x' OR 'a'='a %s") as s:
            assert s.execute(text("SELECT current_setting('app.org_id')")).scalar() == (
                "x' OR 'a'='a %s"
            )
            assert s.execute(text("SELECT count(*) FROM clients")).scalar() == 0
        with db.engine.connect() as conn:  # the same pooled connection, outside any session
            assert conn.connection.dbapi_connection.autocommit is False
            assert conn.execute(text("SELECT current_setting('app.org_id', true)")).scalar() in (
                "",
                None,
            )
            assert conn.execute(text("SELECT count(*) FROM clients")).scalar() == 0
        with db.session(org.id) as s:
            assert s.scalars(select(Client.name)).all() == ["Kept"]
            assert s.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
        with db.session(org.id, reads=True) as s:  # a GET's: PostgreSQL may cache plans
            assert s.execute(text("SHOW plan_cache_mode")).scalar() == "auto"
            assert s.scalars(select(Client.name)).all() == ["Kept"]
    finally:
        db.dispose()


def test_audit_events_are_append_only(backend, org):
    db = Database(backend.admin_url)  # even the tables' owner cannot rewrite history
    try:
        with db.session(org.id) as s:
            assert s.scalars(select(AuditEvent)).first() is not None
        with pytest.raises(Exception, match="append-only"), db.session(org.id) as s:
            s.execute(update(AuditEvent).values(action="forged"))
        with pytest.raises(Exception, match="append-only"), db.session(org.id) as s:
            s.execute(text("DELETE FROM audit_events"))
    finally:
        db.dispose()
