"""The event store (issue 19): events commit with their rows, are tenant-scoped (row-level
security on PostgreSQL), clash with 409, upcast stored v1 rows, and the flow_runs
projection rebuilt by replay equals the live one. Each test runs on SQLite and on
PostgreSQL as the non-superuser role."""

from __future__ import annotations

import random
import uuid
from contextlib import contextmanager

import pytest
from qylon_server.app import create_app
from qylon_server.db import Database
from qylon_server.events import domain, projections, store
from qylon_server.models import ApiKey, Client, FlowDefinition, FlowRun
from qylon_server.services import clients as client_service
from qylon_server.tenancy import acting_as, org_session
from qylon_server.workflows import interpreter, run_row
from sqlalchemy import create_engine, select, text

from ..conftest import run_qylon
from .harness import Api, ThreadServer, new_org, settings_for

from qylon_cli.schemas import ClientCreate  # isort: skip


@pytest.fixture
def db(backend):
    database = Database(backend.url)  # the app's role: row-level security applies
    yield database
    database.dispose()


@contextmanager
def as_owner(db, org):
    with org_session(db, org.id) as s:
        key_id = s.scalar(select(ApiKey.id).where(ApiKey.user_id == org.owner_id))
    with acting_as(db, org_id=org.id, user_id=org.owner_id, key_id=key_id) as ctx:
        yield ctx


def test_an_event_commits_and_rolls_back_with_its_row(db, org):
    name = f"Rolled back {uuid.uuid4().hex[:6]}"
    with pytest.raises(RuntimeError), as_owner(db, org) as ctx:
        client_service.create(ctx.session, ctx.principal, body=ClientCreate(name=name))
        raise RuntimeError("the request fails after the change")
    with org_session(db, org.id) as s:
        assert s.scalar(select(Client).where(Client.name == name)) is None
        assert not [
            r for r in store.walk(s, types=["client.created"]) if r.event.data["name"] == name
        ]

    with as_owner(db, org) as ctx:
        row = client_service.create(ctx.session, ctx.principal, body=ClientCreate(name=name))
    with org_session(db, org.id) as s:
        [event] = store.read(s, stream=f"client:{row.id}")
        assert type(event.event).TYPE == "client.created"
        shown = event.as_dict()
        assert shown["data"] == {"name": name, "domain": None}
        assert shown["version"] == 1 and shown["org_id"] == org.id
        assert shown["actor"]["user_id"] == org.owner_id
        assert shown["correlation_id"].startswith("req-") and shown["causation_id"]


def test_a_version_clash_raises_and_answers_409(backend, db, org):
    stream = f"user:{uuid.uuid4()}"
    with org_session(db, org.id) as s:
        store.append(s, None, stream, domain.UserCreated, {"email": "a@example.com"})
    with pytest.raises(store.VersionClash), org_session(db, org.id) as s:
        store.append(
            s, None, stream, domain.UserDeactivated, {"email": "a@example.com"}, expected_version=0
        )
    with org_session(db, org.id) as s:  # nothing of the clash was stored
        assert [r.event.originator_version for r in store.read(s, stream=stream)] == [1]

    app = create_app(settings_for(backend))

    def clash():
        with org_session(app.state.db, org.id) as s:
            store.append(s, None, stream, domain.UserReactivated, {}, expected_version=0)

    app.add_api_route("/test/clash", clash, methods=["POST"])
    with ThreadServer(app) as server:
        r = Api(server.url).post("/test/clash")
    app.state.db.dispose()
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "version_conflict"


def test_a_runs_appends_number_on_from_its_rows_stream_version(backend, db, org):
    """A run's row keeps its stream's version (no head query per step): a row from before
    that column reads the head once; a stream appended to behind its row's back clashes."""
    run_id = f"run-{uuid.uuid4()}"
    with org_session(db, org.id) as s:
        definition = FlowDefinition(name=f"v-{run_id}", version=1, sha256="0" * 64, text="x")
        s.add(definition)
        s.flush()
        columns = {"definition_id": definition.id, "name": "v", "version": 1, "input": {}}
        columns |= {"status": "enqueued", "user_id": org.owner_id, "key_id": "key"}
        projections.enqueue_run(s, None, run_id, columns)
    with org_session(db, org.id) as s:
        run_row.record(s, run_id, status="running")
        assert s.get(FlowRun, run_id).stream_version == 2
    with org_session(db, org.id) as s:  # a row older than the column
        s.execute(text("UPDATE flow_runs SET stream_version = NULL WHERE id = :id"), {"id": run_id})
    with org_session(db, org.id) as s:
        run_row.record(s, run_id, deadline_at=interpreter.now())
        run_row.record(s, run_id, cancel_requested_at=interpreter.now())
    stream = projections.run_stream(run_id)
    with org_session(db, org.id) as s:
        assert s.get(FlowRun, run_id).stream_version == 4
        assert [r.event.originator_version for r in store.read(s, stream=stream)] == [1, 2, 3, 4]
        store.append(s, None, stream, domain.RunStatusChanged, {"status": "running"})
    with pytest.raises(store.VersionClash), org_session(db, org.id) as s:
        run_row.record(s, run_id, status="completed", finished_at=interpreter.now())
    with org_session(db, org.id) as s:  # nothing of the clash was stored
        assert [r.event.originator_version for r in store.read(s, stream=stream)] == [1, 2, 3, 4, 5]
        assert s.get(FlowRun, run_id).status == "running"


def test_appends_naming_no_version_wait_for_each_other_rather_than_clash(backend, db, org):
    """Two requests changing the same user at once: the second appends after the first
    commits (the table lock), with the next version."""
    import threading

    stream = f"user:{uuid.uuid4()}"
    appended, go_on = threading.Event(), threading.Event()

    def first():
        with org_session(db, org.id) as s:
            s.add(Client(name=f"First {uuid.uuid4().hex[:6]}"))  # holds SQLite's write lock too
            store.append(s, None, stream, domain.UserCreated, {"email": "a@example.com"})
            appended.set()
            go_on.wait(10)

    worker = threading.Thread(target=first)
    worker.start()
    assert appended.wait(10)
    threading.Timer(0.5, go_on.set).start()
    with org_session(db, org.id) as s:
        s.add(Client(name=f"Second {uuid.uuid4().hex[:6]}"))
        store.append(s, None, stream, domain.UserDeactivated, {"email": "a@example.com"})
    worker.join()
    with org_session(db, org.id) as s:
        assert [type(r.event).TYPE for r in store.read(s, stream=stream)] == [
            "user.created",
            "user.deactivated",
        ]


def test_an_append_waits_a_limited_time_for_the_table_lock(team_servers, monkeypatch):
    """PostgreSQL: a transaction holding the events table's lock too long makes another
    append fail (55P03, answered 409 try_again) instead of hanging."""
    import threading

    from sqlalchemy.exc import OperationalError

    backend = team_servers.backend("postgres")  # SQLite: one writer, its own busy timeout
    org, db = new_org(backend), Database(backend.url)
    monkeypatch.setattr(store, "LOCK_TIMEOUT", "300ms")
    holding, release = threading.Event(), threading.Event()

    def hold():
        with org_session(db, org.id) as s:
            store.append(s, None, f"user:{uuid.uuid4()}", domain.UserCreated, {})
            holding.set()
            release.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    try:
        assert holding.wait(10)
        with pytest.raises(OperationalError) as caught, org_session(db, org.id) as s:
            store.append(s, None, f"user:{uuid.uuid4()}", domain.UserCreated, {})
        assert caught.value.orig.sqlstate == "55P03"
    finally:
        release.set()
        worker.join()
        db.dispose()


def test_the_events_table_is_append_only_and_tenant_scoped(backend, db, org, other_org):
    with org_session(db, other_org.id) as s:
        store.append(s, None, f"user:{uuid.uuid4()}", domain.UserCreated, {"email": "b@x.example"})
    with org_session(db, org.id) as s:
        store.append(s, None, f"user:{uuid.uuid4()}", domain.UserCreated, {"email": "a@x.example"})
        assert {r.event.org_id for r in store.walk(s)} == {org.id}
        if backend.name == "postgres":  # row-level security hides the other org from raw SQL
            orgs = s.execute(text("SELECT DISTINCT org_id FROM qylonevents_events")).scalars()
            assert set(orgs) == {org.id}
    for verb in ("UPDATE qylonevents_events SET topic = 'x'", "DELETE FROM qylonevents_events"):
        with pytest.raises(Exception, match="append-only"), org_session(db, org.id) as s:
            s.execute(text(verb))
    if backend.name == "postgres":  # and a raw insert for another org is refused
        with pytest.raises(Exception, match="row-level security"), org_session(db, org.id) as s:
            s.execute(
                text(
                    "INSERT INTO qylonevents_events (org_id, originator_id, originator_version, "
                    "topic, state) VALUES (:o, :u, 1, 't', 'x')"
                ),
                {"o": other_org.id, "u": uuid.uuid4()},
            )


# A user.role_changed event as version 1 stored it (only the new role), frozen as bytes.
V1_STATE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-30T09:15:00.123456+00:00"},'
    b'"event_id":{"_type_":"uuid_hex","_data_":"5d0f1c3a9b7e4d2f8a6c1e3b5d7f9a0b"},'
    b'"stream":"%s","org_id":"%s","actor":null,"correlation_id":"req-v1",'
    b'"causation_id":"req-v1","data":{"role":"admin"}}'
)


def insert_raw_v1(backend, org_id: str, stream: str, gap: int = 1000) -> int:
    """A v1 row written straight into the table, ``gap`` positions after the last one."""
    engine = create_engine(backend.admin_url)
    oid = domain.originator_id(org_id, stream)
    try:
        with engine.begin() as conn:
            last = conn.execute(text("SELECT max(id) FROM qylonevents_events")).scalar() or 0
            position = last + gap
            conn.execute(
                text(
                    "INSERT INTO qylonevents_events (id, org_id, correlation_id, originator_id, "
                    "originator_version, topic, state) VALUES (:id, :org, 'req-v1', :oid, 1, :topic, :state)"
                ),
                {
                    "id": position,
                    "org": org_id,
                    "oid": oid if backend.name == "postgres" else oid.bytes,
                    "topic": "qylon_server.events.domain:UserRoleChanged",
                    "state": V1_STATE % (stream.encode(), org_id.encode()),
                },
            )
            if backend.name == "postgres":  # later appends continue after the raw row
                conn.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('qylonevents_events', 'id'), "
                        "(SELECT max(id) FROM qylonevents_events))"
                    )
                )
    finally:
        engine.dispose()
    return position


def test_stored_v1_rows_are_upcast_and_reading_crosses_id_gaps(backend, db, org, server):
    stream = f"user:{uuid.uuid4()}"
    with org_session(db, org.id) as s:
        before = store.read(s, after=0, limit=100000)
        start = before[-1].position if before else 0
    position = insert_raw_v1(backend, org.id, stream)
    with org_session(db, org.id) as s:
        store.append(
            s,
            None,
            stream,
            domain.UserRoleChanged,
            {"email": "u@x", "from": "admin", "to": "owner"},
        )
    api = Api(server.url)
    r = api.get("/v1/events", org.token, params={"stream": stream})
    assert r.status_code == 200, r.text
    old, new = r.json()["items"]
    assert old["position"] == position and old["type"] == "user.role_changed"
    assert old["class_version"] == 2 and old["data"] == {"to": "admin", "from": None, "email": None}
    assert old["time"].startswith("2026-11-30T09:15:00.123456")
    assert new["version"] == 2 and new["data"]["from"] == "admin"
    with org_session(db, org.id) as s:  # one event a page: every page crosses the gap
        walked = [r.position for r in store.walk(s, page=1, after=start)]
    assert position in walked and walked == sorted(walked) and len(walked) >= 2
    api.http.close()


# ------------------------------------------------------------------------------ replay

STEPS = ("deactivate", "revoke", "reassign", "notify")


def random_operations(db, orgs, rng: random.Random, count: int) -> None:
    """Runs enqueued and moved along through ``run_row.record`` (the helper every
    live change goes through), mixed with other streams' events, in two organisations."""
    defs, runs = {}, {o.id: [] for o in orgs}
    for o in orgs:
        with org_session(db, o.id) as s:
            row = FlowDefinition(
                name=f"random-{rng.randrange(10**6)}", version=1, sha256="0" * 64, text="x"
            )
            s.add(row)
            s.flush()
            defs[o.id] = row.id
    for _ in range(count):
        o = rng.choice(orgs)
        with org_session(db, o.id) as s:
            actor = {"user_id": o.owner_id, "key_id": "key"}
            pick = rng.random()
            if pick < 0.2 or not runs[o.id]:
                run_id = f"run-{uuid.UUID(int=rng.getrandbits(128))}"
                projections.enqueue_run(
                    s,
                    actor,
                    run_id,
                    {
                        "definition_id": defs[o.id],
                        "name": "random",
                        "version": 1,
                        "status": "enqueued",
                        "input": {"n": rng.randrange(100), "who": "a@example.com"},
                        "subject": rng.choice((None, "a@example.com")),
                        "idempotency_key": None,
                        "request_hash": None,
                        "user_id": o.owner_id,
                        "key_id": "key",
                    },
                )
                runs[o.id].append(run_id)
            elif pick < 0.3:
                store.append(s, actor, f"user:{uuid.uuid4()}", domain.UserCreated, {"email": "x@y"})
            else:
                run_id = rng.choice(runs[o.id])
                run_row.record(s, run_id, **random_change(rng))


def random_change(rng: random.Random) -> dict:
    name = rng.choice(STEPS) + rng.choice(("", "", ".compensate"))
    kind = rng.randrange(10)
    if kind == 7:  # cancel asked for
        return {"cancel_requested_at": interpreter.now()}
    if kind == 8:  # resumed
        return {
            "status": "enqueued",
            "error": None,
            "finished_at": None,
            "cancel_requested_at": None,
            "resumed_at": interpreter.now(),
        }
    if kind == 9:  # the run's deadline
        return {"deadline_at": interpreter.now()}
    if kind == 0:
        return {"status": "running"}
    if kind == 1:
        return {
            "status": rng.choice(("completed", "compensated", "failed")),
            "error": rng.choice((None, "boom: failed: no")),
            "finished_at": interpreter.now(),
        }
    if kind == 2:
        return {"step": (name, {"status": "skipped", "attempts": 0, "output": None})}
    if kind == 3:
        return {
            "step": (
                name,
                {
                    "action": "notify",
                    "status": "failed",
                    "attempts": rng.randrange(1, 4),
                    "error": {"code": "conflict", "message": "no"},
                },
            )
        }
    if kind == 4:
        return {
            "step": (name, {"status": "failed", "error": {"code": "timeout", "message": "late"}})
        }
    if kind == 5:
        return {"step": (name, {"action": None, "status": "waiting", "attempts": 1})}
    return {
        "step": (
            name,
            {
                "action": "notify",
                "status": "completed",
                "attempts": rng.randrange(1, 3),
                "output": {"sent": rng.randrange(5), "to": ["a@x", "b@y"]},
                "error": None,
                "finished_at": interpreter.now().isoformat(),
            },
        )
    }


def snapshot(db, org_id: str) -> dict[str, dict]:
    with org_session(db, org_id) as s:
        return {
            r.id: {c: getattr(r, c) for c in projections.COLUMNS}
            for r in s.scalars(select(FlowRun))
        }


def test_replay_gives_the_live_rows_after_random_operations_in_two_orgs(
    backend, db, org, other_org
):
    orgs = [org, other_org]
    random_operations(db, orgs, random.Random(19), 150)
    live = {o.id: snapshot(db, o.id) for o in orgs}
    assert all(len(rows) >= 5 for rows in live.values())
    some_run = next(iter(live[org.id]))
    with org_session(db, org.id) as s:  # spoil the live projection: replay must mend it
        s.get(FlowRun, some_run).status = "spoiled"
        s.execute(
            text("DELETE FROM flow_runs WHERE id = :id"), {"id": next(iter(list(live[org.id])[1:]))}
        )

    env = {"QYLON_DATABASE_URL": backend.url, "QYLON_SECRET_KEY": "s" * 10 + "ecret-" + "k" * 20}
    env["QYLON_ENVIRONMENT"] = "development"
    replayed = run_qylon("server", "replay", "flow_runs", "--org", org.id, "--json", env=env)
    assert replayed.code == 0, replayed.stderr
    [done] = replayed.json["data"]["organisations"]
    assert done == {**done, "org_id": org.id, "rows": len(live[org.id])}
    assert snapshot(db, org.id) == live[org.id]
    assert snapshot(db, other_org.id) == live[other_org.id]  # untouched by A's replay

    with org_session(db, other_org.id) as s:  # B's own rebuild: the same rows again
        assert projections.rebuild_runs(s) == len(live[other_org.id])
        assert {r.event.org_id for r in store.walk(s, types=domain.RUN_TYPES)} == {other_org.id}
    assert snapshot(db, other_org.id) == live[other_org.id]

    # a run started before the event store (no enqueued event) keeps its row as it is
    with org_session(db, org.id) as s:
        older = FlowRun(
            id=f"run-{uuid.uuid4()}",
            definition_id=s.scalar(select(FlowDefinition.id).limit(1)),
            name="older",
            version=1,
            status="running",
            input={},
            steps={},
            user_id=org.owner_id,
            key_id="key",
        )
        s.add(older)
        s.flush()
        run_row.record(s, older.id, status="completed", finished_at=interpreter.now())
    before = snapshot(db, org.id)
    with org_session(db, org.id) as s:
        projections.rebuild_runs(s)
    assert snapshot(db, org.id) == before

    unknown = run_qylon("server", "replay", "nothing", "--json", env=env)
    assert unknown.code == 3 and "flow_runs" in unknown.json["error"]["hint"]
    missing = run_qylon(
        "server", "replay", "flow_runs", "--org", str(uuid.uuid4()), "--json", env=env
    )
    assert missing.code == 5, missing.stdout


# ------------------------------------------------------------------------------ API


def test_events_api_lists_pages_and_filters_an_orgs_events(server, org, other_org):
    api = Api(server.url)
    owner = org.token
    invited = api.post(
        "/v1/users", owner, json={"email": f"e-{uuid.uuid4().hex[:6]}@x.example", "role": "member"}
    )
    assert invited.status_code == 201, invited.text
    user_id = invited.json()["id"]
    assert api.patch(f"/v1/users/{user_id}", owner, json={"role": "manager"}).status_code == 200
    assert api.post(f"/v1/users/{user_id}/deactivate", owner).status_code == 200
    assert api.post(f"/v1/users/{user_id}/reactivate", owner).status_code == 200
    made = api.post("/v1/clients", owner, json={"name": f"Client {uuid.uuid4().hex[:6]}"})
    assert made.status_code == 201, made.text
    api.post("/v1/clients", other_org.token, json={"name": "Other org's client"})

    stream = f"user:{user_id}"
    page = api.get("/v1/events", owner, params={"stream": stream}).json()
    assert [e["type"] for e in page["items"]] == [
        "user.created",
        "user.role_changed",
        "user.deactivated",
        "user.reactivated",
    ]
    assert [e["version"] for e in page["items"]] == [1, 2, 3, 4]
    assert (
        page["items"][1]["data"]["from"] == "member" and page["items"][1]["data"]["to"] == "manager"
    )
    assert page["total"] is None and page["offset"] == 0

    first = api.get("/v1/events", owner, params={"stream": stream, "limit": 3}).json()
    rest = api.get("/v1/events", owner, params={"stream": stream, "after": first["next"]}).json()
    assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in page["items"]]
    assert rest["next"] == page["items"][-1]["position"]

    everything = api.get("/v1/events", owner, params={"limit": 1000}).json()["items"]
    assert {e["org_id"] for e in everything} == {org.id}
    assert "client.created" in {e["type"] for e in everything}
    only = api.get(
        "/v1/events", owner, params={"type": ["user.deactivated", "user.reactivated"]}
    ).json()
    assert [e["type"] for e in only["items"]] == ["user.deactivated", "user.reactivated"]
    corr = page["items"][2]["correlation_id"]
    assert [
        e["type"]
        for e in api.get("/v1/events", owner, params={"correlation_id": corr}).json()["items"]
    ] == ["user.deactivated"]

    # the same requests wrote their audit events too
    audit = api.get("/v1/audit-events", owner, params={"target_id": user_id}).json()
    assert {"user.deactivate", "user.reactivate"} <= {a["action"] for a in audit["items"]}

    assert api.get("/v1/events", other_org.token, params={"stream": stream}).json()["items"] == []
    bad = api.get("/v1/events", owner, params={"type": "user.exploded"})
    assert bad.status_code == 422 and "type" in bad.json()["error"]["message"]
    member = api.make_user(owner, "member")
    assert api.get("/v1/events", member).status_code == 403
    assert api.get("/v1/events", member, params={"stream": "workflow_run:run-x"}).status_code == 200
    api.http.close()


def test_meetings_stored_and_deleted_are_events(server, org):
    api = Api(server.url)
    meeting_id = str(uuid.uuid4())
    body = {
        "id": meeting_id,
        "title": "Weekly sync",
        "created_at": "2026-11-20T10:00:00Z",
        "duration_s": 60.0,
        "speakers": [{"id": "SPEAKER_1", "name": "Ana", "talk_time_s": 30.0}],
        "segments": [{"start": 0.0, "end": 2.5, "speaker": "SPEAKER_1", "text": "Hi."}],
        "action_items": [{"id": "a1", "owner": "Ana", "task": "Send it", "status": "open"}],
    }
    assert api.put(f"/v1/meetings/{meeting_id}", org.token, json=body).status_code == 201
    assert api.put(f"/v1/meetings/{meeting_id}", org.token, json=body).status_code == 200
    changed = {**body, "title": "Weekly sync (edited)"}
    assert api.put(f"/v1/meetings/{meeting_id}", org.token, json=changed).status_code == 200
    assert api.call("DELETE", f"/v1/meetings/{meeting_id}", org.token).status_code == 204
    items = api.get("/v1/events", org.token, params={"stream": f"meeting:{meeting_id}"}).json()
    story = [(e["type"], e["data"].get("created")) for e in items["items"]]
    # the same content again changed nothing, so it is no event; the item is new only once
    assert story == [
        ("meeting.stored", True),
        ("action_item.created", None),
        ("meeting.stored", False),
        ("meeting.deleted", None),
    ]
    assert items["items"][0]["data"]["action_items"] == 1
    api.http.close()
