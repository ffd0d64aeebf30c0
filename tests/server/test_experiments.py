"""A/B tests (issue 20): deterministic assignment (within 1 % of the weights over 10,000
people, the same in another process), results that agree with scipy, and the API on
SQLite and PostgreSQL: lifecycle, exposures once per person, conversions, events in the
experiment's stream, audit, the funnel rebuilt by replay, permissions."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from qylon_server.db import Database
from qylon_server.events import projections, store
from qylon_server.models import Experiment, ExperimentExposure
from qylon_server.services import experiments
from qylon_server.services.experiment_math import point, two_proportions, variant_for
from qylon_server.tenancy import org_session
from sqlalchemy import select

VARIANTS = [
    {"name": "control", "weight": 50},
    {"name": "b", "weight": 30},
    {"name": "c", "weight": 20},
]
_RNG = random.Random(20)
PEOPLE = [str(uuid.UUID(int=_RNG.getrandbits(128), version=4)) for _ in range(10_000)]
EXPERIMENT = "3f1d2c9e-6a0b-4c71-8d25-0e9b7a6f4c13"


def test_ten_thousand_people_split_within_one_percent_of_the_weights():
    """Within one percentage point of each weight (one standard deviation of a 30 % share
    over 10,000 people is 0.46 points), and a chi-square goodness of fit that finds no
    departure from the weights."""
    from scipy.stats import chisquare

    got = Counter(variant_for(EXPERIMENT, p, VARIANTS) for p in PEOPLE)
    for v in VARIANTS:
        assert abs(got[v["name"]] / len(PEOPLE) - v["weight"] / 100) < 0.01, got
    observed = [got[v["name"]] for v in VARIANTS]
    expected = [len(PEOPLE) * v["weight"] / 100 for v in VARIANTS]
    assert chisquare(observed, expected).pvalue > 0.01, got
    assert all(0 <= point(EXPERIMENT, p) < 1 for p in PEOPLE[:100])
    # another experiment shuffles people independently of this one
    other = [variant_for("another", p, VARIANTS) for p in PEOPLE]
    assert other != [variant_for(EXPERIMENT, p, VARIANTS) for p in PEOPLE]


def test_another_process_assigns_everyone_the_same_way():
    here = [variant_for(EXPERIMENT, p, VARIANTS) for p in PEOPLE]
    code = (
        "import json, sys\n"
        "from qylon_server.services.experiment_math import variant_for\n"
        "people, variants = json.load(sys.stdin)\n"
        "print(json.dumps([variant_for(sys.argv[1], p, variants) for p in people]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, EXPERIMENT],
        input=json.dumps([PEOPLE, VARIANTS]),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},  # a different str hash: irrelevant
    )
    there = json.loads(proc.stdout)
    assert there == here
    assert (
        hashlib.sha256(json.dumps(here).encode()).hexdigest()
        == hashlib.sha256(proc.stdout.strip().encode()).hexdigest()
    )


@pytest.mark.parametrize(
    "control,other",
    [
        ((120, 1000), (150, 1000)),
        ((30, 400), (31, 380)),
        ((7, 90), (19, 110)),
        ((500, 5000), (420, 5200)),
    ],
)
def test_results_agree_with_scipys_two_proportion_test(control, other):
    from scipy.stats import chi2_contingency, norm

    mine = two_proportions(control, other)
    (x1, n1), (x2, n2) = control, other
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    chi2, p_value, _, _ = chi2_contingency(table, correction=False)  # = the pooled z-test
    assert mine["p_value"] == pytest.approx(p_value, rel=1e-9, abs=1e-12)
    assert mine["z"] ** 2 == pytest.approx(chi2, rel=1e-9)
    p1, p2 = x1 / n1, x2 / n2
    half = norm.ppf(0.975) * ((p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) ** 0.5)
    assert mine["ci"] == pytest.approx([p2 - p1 - half, p2 - p1 + half], rel=1e-9)
    assert mine["lift"] == pytest.approx((p2 - p1) / p1)


def test_degenerate_groups_give_no_evidence_and_no_division_by_zero():
    assert two_proportions((0, 100), (0, 100))["p_value"] == 1.0
    assert two_proportions((0, 100), (5, 100))["lift"] is None
    assert two_proportions((0, 0), (5, 100))["p_value"] is None


# ------------------------------------------------------------------------------ API


def make_people(api, token, n: int) -> list[str]:
    tag = secrets.token_hex(3)
    items = [{"action": "create", "email": f"p{i}-{tag}@example.com"} for i in range(n)]
    made = api.post(
        "/v1/users/bulk", token, json={"items": items}, headers={"Idempotency-Key": f"exp-{tag}"}
    )
    assert made.status_code == 200, made.text
    return [r["user_id"] for r in made.json()["results"]]


def create(api, token, name="welcome-subject", **extra):
    body = {
        "name": name,
        "target_kind": "sequence",
        "target": "new-consultant",
        "variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}],
        "min_sample": 10,
        **extra,
    }
    return api.post("/v1/experiments", token, json=body)


def test_lifecycle_exposures_conversions_events_audit_and_replay(api, org, backend):
    t = org.token
    made = create(api, t)
    assert made.status_code == 201, made.text
    exp = made.json()
    assert exp["status"] == "draft" and exp["variants"][0] == {"name": "a", "weight": 50.0}
    assert create(api, t).status_code == 409
    bad = create(api, t, name="twice", variants=[{"name": "a", "weight": 1}] * 2)
    assert bad.status_code == 422 and "given twice" in bad.json()["error"]["message"]
    people = make_people(api, t, 24)

    # a draft exposes nobody: everyone gets the control
    early = api.post(f"/v1/experiments/{exp['name']}/assignments", t, json={"user_id": people[0]})
    assert early.json() == {**early.json(), "variant": "a", "exposed": False, "new": False}
    assert api.post(f"/v1/experiments/{exp['name']}/stop", t).status_code == 409
    assert api.post(f"/v1/experiments/{exp['name']}/start", t).json()["status"] == "running"

    got = {}
    for person in people:
        r = api.post(f"/v1/experiments/{exp['name']}/assignments", t, json={"user_id": person})
        assert r.status_code == 200, r.text
        assert r.json()["new"] is True
        got[person] = r.json()["variant"]
        assert got[person] == variant_for(exp["id"], person, exp["variants"])
    again = api.post(f"/v1/experiments/{exp['id']}/assignments", t, json={"user_id": people[3]})
    assert again.json()["new"] is False and again.json()["variant"] == got[people[3]]

    converters = people[:9]
    for person in converters + converters[:2]:  # twice for two: counted once
        r = api.post(f"/v1/experiments/{exp['name']}/conversions", t, json={"user_id": person})
        assert r.json()["converted"] is True
    outsider = make_people(api, t, 1)[0]
    r = api.post(f"/v1/experiments/{exp['name']}/conversions", t, json={"user_id": outsider})
    assert r.json() == {**r.json(), "variant": None, "converted": False, "new": False}

    res = api.get(f"/v1/experiments/{exp['name']}/results", t).json()
    by = {v["name"]: v for v in res["variants"]}
    for name in ("a", "b"):
        assert by[name]["exposures"] == sum(1 for v in got.values() if v == name)
        assert by[name]["conversions"] == sum(1 for p in converters if got[p] == name)
    expected = two_proportions(
        (by["a"]["conversions"], by["a"]["exposures"]),
        (by["b"]["conversions"], by["b"]["exposures"]),
    )
    assert by["b"]["p_value"] == pytest.approx(expected["p_value"])
    assert by["a"]["p_value"] is None and res["control"] == "a"
    assert bool(res["warnings"]) == any(v["exposures"] < 10 for v in by.values())

    # stopped: those exposed keep their variant, newcomers get the control, unrecorded
    assert api.post(f"/v1/experiments/{exp['name']}/stop", t).json()["status"] == "stopped"
    late = api.post(f"/v1/experiments/{exp['name']}/assignments", t, json={"user_id": outsider})
    assert late.json()["variant"] == "a" and late.json()["exposed"] is False
    kept = api.post(f"/v1/experiments/{exp['name']}/assignments", t, json={"user_id": people[5]})
    assert kept.json()["variant"] == got[people[5]]

    stream = f"experiment:{exp['id']}"
    events = api.get(f"/v1/events?stream={stream}&limit=1000", t).json()["items"]
    kinds = Counter(e["type"] for e in events)
    assert kinds == {
        "experiment.created": 1,
        "experiment.started": 1,
        "experiment.exposure": 24,
        "experiment.conversion": 9,
        "experiment.stopped": 1,
    }
    audit = api.get(f"/v1/audit-events?target_id={exp['id']}", t).json()["items"]
    actions = [a["action"] for a in audit if a["action"].startswith("experiment.")]
    assert sorted(actions) == ["experiment.create", "experiment.start", "experiment.stop"]

    db = Database(backend.url)
    try:
        live = funnel(db, org.id)
        with org_session(db, org.id) as s:  # spoil the projection: replay must mend it
            s.get(ExperimentExposure, (exp["id"], people[0])).variant = "spoiled"
            s.get(Experiment, exp["id"]).status = "draft"
        done = projections.rebuild(db, "experiments", org.id)
        assert done["rows"] == 1 + 24
        assert funnel(db, org.id) == live
    finally:
        db.dispose()


def funnel(db, org_id):
    with org_session(db, org_id) as s:
        exps = [
            {c.key: getattr(r, c.key) for c in Experiment.__table__.columns}
            for r in s.scalars(select(Experiment))
        ]
        people = sorted(
            (r.experiment_id, r.user_id, r.variant, r.exposed_at, r.converted_at)
            for r in s.scalars(select(ExperimentExposure))
        )
    return exps, people


def test_assign_and_convert_in_process_as_the_sequences_call_them(api, org, other_org, backend):
    t = org.token
    exp = create(api, t, name="in-process").json()
    api.post("/v1/experiments/in-process/start", t)
    person = make_people(api, t, 1)[0]
    db = Database(backend.url)
    try:
        with org_session(db, org.id) as s:
            variant = experiments.assign(s, org.id, "in-process", person)
            assert experiments.assign(s, org.id, "in-process", person) == variant
            assert experiments.convert(s, org.id, "in-process", person) == (variant, True, True)
            assert experiments.convert(s, org.id, "in-process", person) == (variant, True, False)
            assert experiments.running_on(s, "sequence", "new-consultant").id == exp["id"]
            with pytest.raises(ValueError):
                experiments.assign(s, other_org.id, "in-process", person)
            [event] = [
                r.event
                for r in store.walk(s, stream=f"experiment:{exp['id']}")
                if r.event.data.get("user_id") == person and "exposure" in type(r.event).TYPE
            ]
            assert event.actor is None and event.data["variant"] == variant
        # another organisation sees no such experiment
        with org_session(db, other_org.id) as s, pytest.raises(Exception, match="not found"):
            experiments.assign(s, other_org.id, "in-process", person)
    finally:
        db.dispose()
    assert variant == variant_for(exp["id"], person, exp["variants"])


def test_only_admins_with_an_admin_key_may(api, org):
    create(api, org.token, name="guarded")
    for role, scopes in (("member", ["read", "write"]), ("admin", ["read", "write"])):
        token = api.make_user(org.token, role, scopes)
        for method, path in (
            ("GET", "/v1/experiments"),
            ("GET", "/v1/experiments/guarded/results"),
            ("POST", "/v1/experiments/guarded/start"),
        ):
            r = api.call(method, path, token)
            assert r.status_code == 403, (role, path, r.text)
    admin = api.make_user(org.token, "admin", ["admin"])
    assert api.get("/v1/experiments/guarded", admin).status_code == 200
    assert api.get("/v1/experiments/nothing", admin).status_code == 404
