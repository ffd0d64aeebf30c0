"""Experiments wired into onboarding, on SQLite and PostgreSQL: `onboarding start` assigns a
covered person a variant (the exposure in the start's transaction) and runs the variant's
sequence; a goal event converts an exposed person once (the event store's listener);
`POST /v1/onboarding/batch` is idempotent per person and sequence with per-item errors;
`qylon users import --onboard` starts people through it, a batch per request; a template
variant's text is what the run sends (a real run, a real SMTP server)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter

import pytest
from qylon_server.db import Database
from qylon_server.events import domain, store
from qylon_server.models import FlowRun
from qylon_server.services import experiment_goals
from qylon_server.services.experiment_math import variant_for
from qylon_server.tenancy import org_session
from sqlalchemy import select

from ..conftest import credentials, run_qylon_here
from .harness import START_S, Api, new_org, running
from .smtp_relay import Relay

HELLO = "---\nsubject: Hello {{ person.first_name }}\n---\nStep {{ sequence.step }}.\n"
OTHER = "---\nsubject: Welcome aboard, {{ person.first_name }}\n---\nThe other text.\n"
SEQUENCE = """
name: {name}
version: 1
steps:
  - name: first
    template: {template}
    delay: {delay}
"""
# every person assigned it gets both items (no applies_to): completing either is the goal
POLICY = """
name: abwire-policy
version: 1
title: Two acknowledgements
frameworks: [GDPR]
items:
  - {id: read-one, title: Read one, kind: acknowledge, due: 7d, document: The first text.}
  - {id: read-two, title: Read two, kind: acknowledge, due: 7d, document: The second text.}
"""
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def upload(api, token, name, template="hello", text=HELLO, delay=20):
    body = {
        "text": SEQUENCE.format(name=name, template=template, delay=delay),
        "templates": {template: text},
    }
    r = api.post("/v1/onboarding/sequences", token, json=body)
    assert r.status_code == 201, r.text


def people(api, token, n: int, **fields) -> list[dict]:
    tag = secrets.token_hex(3)
    items = [
        {"action": "create", "email": f"p{i}-{tag}@example.com", "fields": fields} for i in range(n)
    ]
    made = api.post(
        "/v1/users/bulk", token, json={"items": items}, headers={"Idempotency-Key": f"ab-{tag}"}
    )
    assert made.status_code == 200, made.text
    return [
        {"id": r["user_id"], "email": i["email"]} for r, i in zip(made.json()["results"], items)
    ]


def experiment(api, token, **body):
    r = api.post("/v1/experiments", token, json={"min_sample": 10, **body})
    assert r.status_code == 201, r.text
    started = api.post(f"/v1/experiments/{body['name']}/start", token)
    assert started.status_code == 200, started.text
    return r.json()


def batch(api, token, items):
    # 200 starts in one request: a few seconds alone, over the client's usual 30 s on a
    # slow 2-core machine running the whole suite (seen once: a read timeout)
    return api.post("/v1/onboarding/batch", token, json={"items": items}, timeout=120)


def events(api, token, stream):
    r = api.get("/v1/events", token, params={"stream": stream, "limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()["items"]


@pytest.mark.slow
def test_two_hundred_starts_split_by_weight_run_their_variant_and_convert_once(api, org, backend):
    t = org.token
    upload(api, t, "slow")
    upload(api, t, "slow-b")
    exp = experiment(
        api,
        t,
        name="short-or-long",
        target_kind="sequence",
        target="slow",
        variants=[{"name": "a", "weight": 70}, {"name": "b", "weight": 30, "sequence": "slow-b"}],
        goal="compliance.item_completed",
    )
    assert exp["goal"] == "compliance.item_completed"
    assert exp["variants"][1] == {"name": "b", "weight": 30.0, "sequence": "slow-b"}
    crowd = people(api, t, 200)
    done = batch(api, t, [{"user": p["email"], "sequence": "slow"} for p in crowd])
    assert done.status_code == 200, done.text
    assert (done.json()["started"], done.json()["errors"]) == (200, 0)

    got = {r["onboarding"]["user_id"]: r["onboarding"] for r in done.json()["results"]}
    for p in crowd:
        row = got[p["id"]]
        assert row["experiment"] == "short-or-long" and row["sequence"] == "slow"
        assert row["variant"] == variant_for(exp["id"], p["id"], exp["variants"])
        assert row["run_sequence"] == ("slow-b" if row["variant"] == "b" else None)
    split = Counter(row["variant"] for row in got.values())
    assert abs(split["b"] / 200 - 0.30) < 0.13, split  # 4 standard deviations of 200 people
    db = Database(backend.url)
    try:
        with org_session(db, org.id) as s:
            runs = dict(s.execute(select(FlowRun.id, FlowRun.name)).all())
    finally:
        db.dispose()
    for row in got.values():  # each run is its variant's sequence
        want = "onboarding.slow-b" if row["variant"] == "b" else "onboarding.slow"
        assert runs[row["run_id"]] == want

    # one more through the single route: its exposure commits with its start (one
    # transaction: one correlation id), and the onboarding names the experiment
    first = people(api, t, 1)[0]
    one = api.post("/v1/onboarding", t, json={"email": first["email"], "sequence": "slow"})
    assert one.status_code == 202, one.text
    (started,) = events(api, t, f"onboarding:{first['id']}")
    exposures = [
        e for e in events(api, t, f"experiment:{exp['id']}") if e["type"] == "experiment.exposure"
    ]
    assert len(exposures) == 201
    (mine,) = [e for e in exposures if e["data"]["user_id"] == first["id"]]
    assert mine["correlation_id"] == started["correlation_id"]
    assert started["data"]["variant"] == mine["data"]["variant"] == one.json()["variant"]
    shown = api.get("/v1/onboarding", t, params={"email": first["email"]}).json()["items"]
    assert (shown[0]["experiment"], shown[0]["variant"]) == ("short-or-long", one.json()["variant"])
    split[one.json()["variant"]] += 1
    got[first["id"]] = one.json()

    # the goal: completing an item converts once, however many items are completed
    assert api.post("/v1/compliance/policies", t, json={"text": POLICY}).status_code == 201
    converters = crowd[:6]
    assigned = api.post(
        "/v1/compliance/assignments",
        t,
        json={"policy": "abwire-policy", "users": [p["email"] for p in converters]},
    )
    assert assigned.status_code == 200, assigned.text
    for p in converters:
        items = api.get("/v1/compliance/items", t, params={"user": p["email"]}).json()["items"]
        for item in items:  # both items: two goal events, one conversion
            r = api.post(
                f"/v1/compliance/items/{item['id']}/complete", t, json={"acknowledge": True}
            )
            assert r.status_code == 200, r.text
    stream = events(api, t, f"experiment:{exp['id']}")
    conversions = [e for e in stream if e["type"] == "experiment.conversion"]
    assert sorted(e["data"]["user_id"] for e in conversions) == sorted(p["id"] for p in converters)
    one = conversions[0]
    assert one["data"]["goal"] == "compliance.item_completed"
    assert one["causation_id"] == one["data"]["goal_event"]  # caused by the goal event
    results = api.get("/v1/experiments/short-or-long/results", t).json()
    by = {v["name"]: v for v in results["variants"]}
    assert by["a"]["exposures"] + by["b"]["exposures"] == 201
    for name in ("a", "b"):
        assert by[name]["exposures"] == split[name]
        assert by[name]["conversions"] == sum(
            1 for p in converters if got[p["id"]]["variant"] == name
        )


def test_the_batch_is_idempotent_and_answers_each_item(api, org):
    t = org.token
    upload(api, t, "slow")
    crowd = people(api, t, 3)
    gone = people(api, t, 1)[0]
    assert api.post(f"/v1/users/{gone['id']}/deactivate", t).status_code == 200
    items = [{"user": p["email"], "sequence": "slow"} for p in crowd] + [
        {"user": "nobody@example.com", "sequence": "slow"},
        {"user": crowd[0]["email"], "sequence": "no-such-sequence"},
        {"user": gone["email"], "sequence": "slow"},
    ]
    # a key's first request writes its last use in the caller's transaction, which ends
    # before the items' own transactions begin (on SQLite they would wait for it else)
    admin = api.make_user(t, "admin", ["admin"])
    first = batch(api, admin, items)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["started"], body["already_running"], body["errors"]) == (3, 0, 3)
    assert [r["status"] for r in body["results"]] == ["started"] * 3 + ["error"] * 3
    assert [r["error"]["code"] for r in body["results"][3:]] == [
        "not_found",
        "not_found",
        "conflict",
    ]
    assert "no-such-sequence" in body["results"][4]["error"]["message"]
    assert all(r["onboarding"] is None for r in body["results"][3:])

    again = batch(api, t, items).json()
    assert [r["status"] for r in again["results"][:3]] == ["already_running"] * 3
    runs = [r["onboarding"]["run_id"] for r in body["results"][:3]]
    assert [r["onboarding"]["run_id"] for r in again["results"][:3]] == runs
    single = api.post("/v1/onboarding", t, json={"email": crowd[1]["email"], "sequence": "slow"})
    assert single.status_code == 200 and single.json()["run_id"] == runs[1]
    for p in crowd:  # one start each, the failed items left nothing behind
        assert [e["type"] for e in events(api, t, f"onboarding:{p['id']}")] == [
            "onboarding.started"
        ]
    assert events(api, t, f"onboarding:{gone['id']}") == []

    too_many = [{"user": f"x{i}@example.com", "sequence": "slow"} for i in range(501)]
    assert batch(api, t, too_many).status_code == 422
    assert batch(api, t, []).status_code == 422


@SQLITE_ONLY
def test_a_goal_where_converts_on_the_named_item_only(api, org):
    t = org.token
    upload(api, t, "narrow")
    exp = experiment(
        api,
        t,
        name="the-second-item",
        target_kind="sequence",
        target="narrow",
        variants=[{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
        goal="compliance.item_completed",
        goal_where={"item_key": "read-two", "policy": "abwire-policy"},
    )
    assert exp["goal_where"] == {"item_key": "read-two", "policy": "abwire-policy"}
    crowd = people(api, t, 2)
    done = batch(api, t, [{"user": p["email"], "sequence": "narrow"} for p in crowd])
    assert done.json()["started"] == 2, done.text
    assert api.post("/v1/compliance/policies", t, json={"text": POLICY}).status_code == 201
    emails = [p["email"] for p in crowd]
    r = api.post("/v1/compliance/assignments", t, json={"policy": "abwire-policy", "users": emails})
    assert r.status_code == 200, r.text

    def complete(person, key):
        items = api.get("/v1/compliance/items", t, params={"user": person["email"]}).json()
        (item,) = [i for i in items["items"] if i["item"] == key]
        r = api.post(f"/v1/compliance/items/{item['id']}/complete", t, json={"acknowledge": True})
        assert r.status_code == 200, r.text

    def converted():
        stream = events(api, t, f"experiment:{exp['id']}")
        return [e["data"]["user_id"] for e in stream if e["type"] == "experiment.conversion"]

    complete(crowd[0], "read-one")  # a goal event, but not the item named
    complete(crowd[1], "read-one")
    assert converted() == []
    complete(crowd[1], "read-two")
    assert converted() == [crowd[1]["id"]]


@SQLITE_ONLY
def test_experiments_refuse_what_their_variants_cannot_run(api, org):
    t = org.token
    upload(api, t, "slow")
    base = {"name": "bad", "target": "slow", "min_sample": 10}
    two = [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]
    cases = [
        ({"target_kind": "sequence", "variants": [two[0], {**two[1], "sequence": "nope"}]}, "nope"),
        ({"target_kind": "sequence", "variants": [two[0], {**two[1], "template": "x"}]}, "varies"),
        ({"target_kind": "template", "variants": [two[0], {**two[1], "template": "x"}]}, "'x'"),
        ({"target_kind": "sequence", "variants": two, "goal": "no.such_type"}, "no.such_type"),
        ({"target_kind": "sequence", "variants": two, "goal": "experiment.conversion"}, "goal"),
        ({"target_kind": "sequence", "variants": two, "goal_where": {"a": "b"}}, "goal_where"),
        (
            {
                "target_kind": "template",
                "variants": [two[0], {**two[1], "template": "x"}],
                "templates": {"x": "---\nsubject: Hi\n---\n{{ persn.name }}\n"},
            },
            "x.md.j2",
        ),
    ]
    for extra, said in cases:
        r = api.post("/v1/experiments", t, json={**base, **extra})
        assert r.status_code == 422, (extra, r.text)
        assert said in r.json()["error"]["message"], (extra, r.text)


@SQLITE_ONLY
def test_the_store_calls_listeners_in_the_appends_transaction(org, backend):
    seen = []

    def heard(session, event):
        seen.append((type(event).TYPE, session.in_transaction()))

    store.listen("client.created", heard)
    store.listen("client.created", heard)  # once
    try:
        db = Database(backend.url)
        try:
            with org_session(db, org.id) as s:
                store.append(s, None, "client:x", domain.ClientCreated, {"name": "X"})
                store.append(s, None, "meeting:y", domain.MeetingDeleted, {})
        finally:
            db.dispose()
    finally:
        store.unlisten("client.created", heard)
    assert seen == [("client.created", True)]
    with pytest.raises(KeyError):
        store.listen("no.such_type", heard)
    assert "compliance.item_completed" in experiment_goals.goal_types()
    assert "experiment.conversion" not in experiment_goals.goal_types()


@SQLITE_ONLY
def test_import_onboard_starts_people_a_batch_per_request(api, org, server, tmp_path):
    t = org.token
    upload(api, t, "slow")
    upload(api, t, "slow-b")
    env = credentials(server.url, t)
    made = run_qylon_here(
        "experiments", "create", "cli-made", "--variants", "a=1,b=1",
        "--on", "sequence:slow", "--sequence", "b=slow-b",
        "--goal", "onboarding.completed", "--json", env=env,
    )  # fmt: skip
    assert made.code == 0, made.stderr
    data = made.json["data"]
    assert data["variants"][1]["sequence"] == "slow-b" and data["goal"] == "onboarding.completed"
    wrong = run_qylon_here(
        "experiments", "create", "cli-wrong", "--variants", "a=1,b=1",
        "--on", "sequence:slow", "--sequence", "c=slow-b", "--json", env=env,
    )  # fmt: skip
    assert wrong.code == 3 and "--sequence" in wrong.json["error"]["message"]
    assert api.post("/v1/experiments/cli-made/start", t).status_code == 200

    tag = secrets.token_hex(3)
    emails = [f"new{i}-{tag}@example.com" for i in range(5)]
    csv = tmp_path / "people.csv"
    csv.write_text("email,given_name\n" + "".join(f"{e},N{i}\n" for i, e in enumerate(emails)))
    done = run_qylon_here(
        "users", "import", str(csv), "--onboard", "slow", "--batch-size", "2", "--json", env=env
    )
    assert done.code == 0, done.stderr
    onboarded = done.json["data"]["onboarded"]
    assert (onboarded["started"], onboarded["errors"], onboarded["emails"]) == (5, [], emails)
    ids = {
        u["email"]: u["id"]
        for u in api.get("/v1/users", t, params={"limit": 1000}).json()["items"]
        if u["email"] in emails
    }
    started = [events(api, t, f"onboarding:{ids[e]}")[0] for e in emails]
    # 5 people, 2 a request: 3 requests, each one transaction (its own correlation id)
    assert len({e["correlation_id"] for e in started}) == 3
    assert {e["data"]["experiment_id"] for e in started} == {data["id"]}

    status = run_qylon_here("onboarding", "status", "--user", emails[0], env=env)
    assert status.code == 0, status.stderr
    assert "cli-made: " in status.stdout


@SQLITE_ONLY
def test_the_cli_sends_a_template_variants_file(org, server, tmp_path):
    env = credentials(server.url, org.token)
    file = tmp_path / "welcome-b.md.j2"
    file.write_text(OTHER)
    made = run_qylon_here(
        "experiments", "create", "from-file", "--variants", "a=1,b=1",
        "--on", "template:welcome", "--template", f"b={file}",
        "--goal", "compliance.item_completed", "--goal-where", "item_key=read-two",
        "--goal-where", "rung=2", "--json", env=env,
    )  # fmt: skip
    assert made.code == 0, made.stderr
    data = made.json["data"]
    assert data["goal_where"] == {"item_key": "read-two", "rung": 2}
    assert data["variants"][1] == {"name": "b", "weight": 1.0, "template": "welcome-b"}
    assert data["templates"] == ["welcome-b"] and data["goal"] == "compliance.item_completed"
    shown = run_qylon_here("experiments", "list", env=env)
    assert "b=1 (welcome-b)" in shown.stdout and "compliance.item_completed" in shown.stdout
    assert "item_key=read-two rung=2" in shown.stdout
    missing = run_qylon_here(
        "experiments", "create", "no-file", "--variants", "a=1,b=1",
        "--on", "template:welcome", "--template", f"b={tmp_path / 'none.md.j2'}", env=env,
    )  # fmt: skip
    assert missing.code == 2 and "no file" in missing.stderr
    mixed = run_qylon_here(
        "experiments", "create", "mixed", "--variants", "a=1,b=1",
        "--on", "template:welcome", "--sequence", "b=slow", "--json", env=env,
    )  # fmt: skip
    assert mixed.code == 3 and "--sequence goes with" in mixed.json["error"]["message"]


@pytest.mark.slow
@pytest.mark.xdist_group("workflows")
def test_a_template_variant_is_what_the_run_sends(team_servers):
    """A real run (the workflow engine in the server) and a real SMTP server: each person
    gets the text of their variant's template in place of the target template."""
    backend = team_servers.backend("sqlite")
    relay = Relay().start()
    settings = {"workflow_executor": f"ab-{uuid.uuid4().hex[:8]}", "mail_from": "s@qylon.example"}
    try:
        with running(backend, **settings) as server:
            api = Api(server.url, backend)
            org = new_org(backend)
            t = org.token
            smtp = relay.url
            assert (
                api.put("/v1/onboarding/mail-settings", t, json={"smtp_url": smtp}).status_code
                == 200
            )
            upload(api, t, "now", template="welcome", delay=0)
            exp = experiment(
                api,
                t,
                name="friendlier",
                target_kind="template",
                target="welcome",
                variants=[
                    {"name": "a", "weight": 1},
                    {"name": "b", "weight": 1, "template": "welcome-b"},
                ],
                templates={"welcome-b": OTHER},
            )
            assert exp["templates"] == ["welcome-b"]
            pick: dict[str, dict] = {}  # one person of each variant (assignment is computed)
            while len(pick) < 2:
                for p in people(api, t, 4, given_name="Ana"):
                    pick.setdefault(variant_for(exp["id"], p["id"], exp["variants"]), p)
            crowd = list(pick.values())
            done = batch(api, t, [{"user": p["email"], "sequence": "now"} for p in crowd]).json()
            failed = [r.get("error") for r in done["results"] if r["status"] == "error"]
            assert not failed and len(done["results"]) == 2, failed
            variants = {
                r["onboarding"]["email"]: r["onboarding"]["variant"] for r in done["results"]
            }
            assert sorted(variants.values()) == ["a", "b"]
            deadline = time.monotonic() + START_S
            while len(relay.messages) < len(crowd):
                assert time.monotonic() < deadline, len(relay.messages)
                time.sleep(0.1)
            api.http.close()
    finally:
        relay.stop()
    for message in relay.messages:
        want = "Welcome aboard, Ana" if variants[message["To"]] == "b" else "Hello Ana"
        assert message["Subject"] == want
