"""Seams for work outside a request (workflow steps, background jobs), on both engines:
a session opened for an organisation as a request opens it, the actor rebuilt from ids,
loud failure when the organisation was never set, and callbacks that run only after a
commit."""

from __future__ import annotations

import uuid

import pytest
from qylon_server.db import Database, TenantNotSet, after_commit
from qylon_server.deps import ActorNotFound, Ctx, principal_for
from qylon_server.models import ApiKey, AuditEvent, Client, User
from qylon_server.services import users
from qylon_server.tenancy import acting_as, org_session
from sqlalchemy import select, text

from qylon_cli.schemas import UserInvite


@pytest.fixture
def db(backend):
    database = Database(backend.url)  # the app's role: under row-level security on PostgreSQL
    yield database
    database.dispose()


def _owner_key(db, org) -> str:
    with org_session(db, org.id) as s:
        return s.scalar(select(ApiKey.id).where(ApiKey.user_id == org.owner_id))


def test_a_step_acts_as_the_recorded_actor(db, org):
    key_id = _owner_key(db, org)
    with acting_as(db, org_id=org.id, user_id=org.owner_id, key_id=key_id) as ctx:
        assert ctx.principal.user.id == org.owner_id and ctx.principal.can("users:write")
        invited = users.invite(
            ctx.session, ctx.principal, invite=UserInvite(email="step@example.com", role="admin")
        )
    with org_session(db, org.id) as s:
        assert s.get(User, invited.id).status == "invited"
        event = s.scalar(select(AuditEvent).where(AuditEvent.target_id == invited.id))
        assert (event.action, event.actor_user_id, event.api_key_id) == (
            "user.invite",
            org.owner_id,
            key_id,
        )


def test_the_rebuilt_actor_keeps_the_provisioners_rules(db, org):
    with acting_as(db, org_id=org.id, user_id=org.owner_id, key_id=_owner_key(db, org)) as ctx:
        me = ctx.session.get(User, org.owner_id)
        with pytest.raises(Exception, match="yourself|themselves|own"):
            users.change(ctx.session, ctx.principal, user=me, change="deactivate")


def test_an_actor_from_another_organisation_is_not_found(db, org, other_org):
    key_id = _owner_key(db, other_org)
    with org_session(db, org.id) as s:
        with pytest.raises(ActorNotFound):
            principal_for(s, other_org.owner_id, key_id)
        with pytest.raises(ActorNotFound):  # a real key, but not that user's
            principal_for(s, org.owner_id, key_id)


def test_forgetting_the_organisation_fails_loudly(db, org):
    with pytest.raises(TenantNotSet), db.session(None) as s:
        s.scalars(select(User)).all()
    with pytest.raises(TenantNotSet), db.session(None) as s:
        s.add(Client(name="Nobody's"))
        s.flush()
    with pytest.raises(ValueError), org_session(db, ""):
        pass
    if db.postgres:  # row-level security: raw SQL sees nothing and may write nothing
        with db.session(None) as s:
            assert s.execute(text("SELECT count(*) FROM users")).scalar() == 0
        with pytest.raises(Exception, match="row-level security|violates"), db.session(None) as s:
            s.execute(
                text(
                    "INSERT INTO clients (id, org_id, name, tags, status, created_at, updated_at) "
                    "VALUES (:id, :org, 'Planted', '[]', 'active', now(), now())"
                ),
                {"id": str(uuid.uuid4()), "org": org.id},
            )


def test_after_commit_runs_only_after_a_commit(db, org):
    ran: list[str] = []
    with org_session(db, org.id) as s:
        s.add(Client(name=f"Committed {uuid.uuid4()}"))
        after_commit(s, lambda: ran.append("first"))
        after_commit(s, lambda: ran.append("second"))
        s.flush()
        assert ran == []  # not before the commit
    assert ran == ["first", "second"]

    with pytest.raises(RuntimeError), org_session(db, org.id) as s:
        s.add(Client(name="Rolled back"))
        after_commit(s, lambda: ran.append("rolled back"))
        raise RuntimeError("the request failed")
    assert ran == ["first", "second"]
    with org_session(db, org.id) as s:
        assert s.scalar(select(Client).where(Client.name == "Rolled back")) is None


def test_after_commit_survives_a_savepoint_and_a_failing_callback(db, org, caplog):
    ran: list[str] = []
    with org_session(db, org.id) as s:
        ctx = Ctx(s, principal_for(s, org.owner_id, _owner_key(db, org)))
        ctx.after_commit(lambda: 1 / 0)
        ctx.after_commit(lambda: ran.append("kept"))
        try:
            with s.begin_nested():
                raise KeyError("a savepoint rolls back")
        except KeyError:
            pass
    assert ran == ["kept"]
    assert "after-commit callback" in caplog.text


def test_a_rolled_back_transactions_callbacks_never_run_later(db, org):
    """The same session, reused after a rollback: what the failed transaction registered is gone."""
    ran: list[str] = []
    with db.session(org.id) as s:
        pass
    session = type(s)(db.engine, info={"org_id": org.id})
    try:
        with session.begin():
            after_commit(session, lambda: ran.append("from the failed transaction"))
            session.rollback()
        with session.begin():
            after_commit(session, lambda: ran.append("from the committed one"))
    finally:
        session.close()
    assert ran == ["from the committed one"]
