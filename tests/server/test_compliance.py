"""Compliance on the real server (SQLite and PostgreSQL): policies uploaded and versioned,
items assigned per role/team, completed with evidence (hash checked, types sniffed),
permissions (a member completes only their own), the report matching the events, and the
projection replayed from the events."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from pathlib import Path

from qylon_server.db import Database
from qylon_server.events import store
from qylon_server.tenancy import org_session

from qylon_cli.compliance_policy import check, check_file

from ..conftest import run_qylon
from .harness import direct_key

ROOT = Path(__file__).resolve().parents[2]
GDPR = (ROOT / "config/compliance/gdpr-consultant-onboarding.yaml").read_text()
ISO = (ROOT / "config/compliance/iso27001-security-onboarding.yaml").read_text()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_the_shipped_policies_are_valid_and_errors_name_line_and_field():
    for path in sorted((ROOT / "config/compliance").glob("*.yaml")):
        assert check_file(path).valid, check_file(path).problems
    bad = GDPR.replace("due: 14d", "due: 14").replace("kind: training", "kind: trainning")
    problems = [p.format("gdpr.yaml") for p in check(bad, "gdpr.yaml").problems]
    assert any(p.startswith("gdpr.yaml:") and "items[1].kind" in p for p in problems), problems
    assert any("items[1].due: must be a string" in p for p in problems), problems


def _person(api, org, email, role="member", team=None):
    body = {"email": email, "role": role}
    if team:
        body["team"] = team
    r = api.post("/v1/users", org.token, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _setup(api, org, backend):
    assert api.post("/v1/compliance/policies", org.token, json={"text": GDPR}).status_code == 201
    again = api.post("/v1/compliance/policies", org.token, json={"text": GDPR})
    assert again.status_code == 200 and again.json()["created"] is False
    changed = api.post(
        "/v1/compliance/policies", org.token, json={"text": GDPR.replace("3d", "4d", 1)}
    )
    assert changed.status_code == 409
    ana = _person(api, org, "ana@firm.example")
    bo = _person(api, org, "bo@firm.example", role="manager", team="Delivery")
    r = api.post(
        "/v1/compliance/assignments",
        org.token,
        json={"policy": "gdpr-consultant-onboarding", "all": True, "start_date": "2026-01-05"},
    )
    assert r.status_code == 200, r.text
    ana_key = direct_key(backend, org.id, ana["id"], ["read", "write"])
    return ana, bo, ana_key, r.json()


def test_assign_complete_and_permissions(api, org, backend):
    _, _, ana_key, assigned = _setup(api, org, backend)
    mine = {(a["email"], a["item"]) for a in assigned["assigned"]}
    assert ("ana@firm.example", "client-dpa") not in mine  # managers and Delivery only
    assert ("bo@firm.example", "client-dpa") in mine
    again = api.post(
        "/v1/compliance/assignments",
        org.token,
        json={"policy": "gdpr-consultant-onboarding", "all": True},
    ).json()
    assert again["assigned"] == [] and again["unchanged"] >= 5
    items = api.get("/v1/compliance/items", ana_key).json()["items"]
    assert {i["email"] for i in items} == {"ana@firm.example"}
    by_item = {i["item"]: i for i in items}
    assert by_item["data-protection-policy"]["due_date"] == "2026-01-08"
    assert api.get("/v1/compliance/items?user=bo@firm.example", ana_key).status_code == 403
    bos = api.get("/v1/compliance/items?user=bo@firm.example", org.token).json()["items"]
    # a member cannot complete someone else's item: not found, not revealed
    r = api.post(
        f"/v1/compliance/items/{bos[0]['id']}/complete", ana_key, json={"acknowledge": True}
    )
    assert r.status_code == 404
    ack = api.post(
        f"/v1/compliance/items/{by_item['data-protection-policy']['id']}/complete",
        ana_key,
        json={"acknowledge": True},
    )
    assert ack.status_code == 200 and ack.json()["status"] == "completed", ack.text
    twice = api.post(
        f"/v1/compliance/items/{by_item['data-protection-policy']['id']}/complete",
        ana_key,
        json={"acknowledge": True},
    )
    assert twice.status_code == 409
    training = by_item["gdpr-training"]["id"]
    fake = base64.b64encode(b"not a pdf at all").decode()
    wrong = api.post(
        f"/v1/compliance/items/{training}/complete",
        ana_key,
        json={"content_base64": fake, "content_type": "application/pdf"},
    )
    assert wrong.status_code == 415
    zipped = api.post(
        f"/v1/compliance/items/{training}/complete",
        ana_key,
        json={"content_base64": fake, "content_type": "application/zip"},
    )
    assert zipped.status_code == 415
    huge = base64.b64encode(b"%PDF-" + b"0" * (2 * 1024 * 1024)).decode()  # over max_bytes
    too_big = api.post(
        f"/v1/compliance/items/{training}/complete",
        ana_key,
        json={"content_base64": huge, "content_type": "application/pdf"},
    )
    assert too_big.status_code == 413, too_big.text
    done = api.post(
        f"/v1/compliance/items/{training}/complete",
        ana_key,
        json={"content_base64": base64.b64encode(PNG).decode(), "content_type": "image/png"},
    )
    assert done.status_code == 200, done.text
    assert done.json()["evidence_sha256"] == hashlib.sha256(PNG).hexdigest()
    assert api.get("/v1/compliance/report?framework=GDPR", ana_key).status_code == 403
    overdue = api.get("/v1/compliance/items?overdue=true", org.token).json()["items"]
    assert "ana@firm.example" not in {i["email"] for i in overdue}
    assert "bo@firm.example" in {i["email"] for i in overdue}


def _from_events(backend, org_id) -> dict:
    """Each item's status and evidence hash, read from the events alone."""
    db = Database(backend.admin_url)
    try:
        with org_session(db, org_id) as s:
            seen: dict = {}
            for recorded in store.walk(
                s, types=("compliance.item_assigned", "compliance.item_completed")
            ):
                data = recorded.event.data
                if type(recorded.event).TYPE == "compliance.item_assigned":
                    seen[data["item_id"]] = {"item": data["item_key"], "sha": None}
                else:
                    seen[data["item_id"]]["sha"] = data["evidence_sha256"]
            return seen
    finally:
        db.dispose()


def test_the_report_matches_the_events_in_every_format(api, org, backend):
    _, _, ana_key, _ = _setup(api, org, backend)
    items = api.get("/v1/compliance/items", ana_key).json()["items"]
    first = next(i for i in items if i["kind"] == "acknowledge")
    api.post(f"/v1/compliance/items/{first['id']}/complete", ana_key, json={"acknowledge": True})
    report = api.get("/v1/compliance/report?framework=GDPR", org.token).json()
    events = _from_events(backend, org.id)
    assert len(report["rows"]) == len(events)
    every = api.get("/v1/compliance/items", org.token).json()["items"]
    by_id = {i["id"]: i for i in every}
    assert {(by_id[k]["item"], v["sha"]) for k, v in events.items()} == {
        (r["item"], r["evidence_sha256"]) for r in report["rows"]
    }
    assert report["summary"]["completed"] == sum(1 for v in events.values() if v["sha"])
    text = api.get("/v1/compliance/report?framework=GDPR&format=csv", org.token).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["email"], r["item"], r["status"]) for r in rows] == [
        (r["email"], r["item"], r["status"]) for r in report["rows"]
    ]
    md = api.get("/v1/compliance/report?framework=GDPR&format=md", org.token).text
    assert md.startswith("# Compliance report: GDPR") and md.count("\n| ") == len(rows) + 2
    pdf = api.get("/v1/compliance/report?framework=GDPR&format=pdf", org.token)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert api.get("/v1/compliance/report?framework=PCI", org.token).status_code == 422


def test_replay_rebuilds_the_projection(api, org, backend):
    _, _, ana_key, _ = _setup(api, org, backend)
    item = api.get("/v1/compliance/items", ana_key).json()["items"][0]
    api.post(f"/v1/compliance/items/{item['id']}/complete", ana_key, json={"acknowledge": True})
    live = api.get("/v1/compliance/items", org.token).json()["items"]
    db = Database(backend.admin_url)
    try:
        with org_session(db, org.id) as s:  # spoil it: replay must mend it
            from qylon_server.models import ComplianceItem

            for row in s.query(ComplianceItem):
                row.status, row.evidence_sha256 = "assigned", None
    finally:
        db.dispose()
    env = {"QYLON_DATABASE_URL": backend.url, "QYLON_SECRET_KEY": "s" * 10 + "ecret-" + "k" * 20}
    env["QYLON_ENVIRONMENT"] = "development"
    replayed = run_qylon("server", "replay", "compliance_items", "--org", org.id, "--json", env=env)
    assert replayed.code == 0, replayed.stderr
    assert replayed.json["data"]["organisations"][0]["rows"] == len(live)
    assert api.get("/v1/compliance/items", org.token).json()["items"] == live


def test_items_apply_by_role_team_group_or_client():
    from qylon_cli.compliance_policy import applies, load

    policy = load(ISO, "iso.yaml")
    hipaa = policy.item("hipaa-certificate")
    assert not applies(hipaa, {"role": "member", "groups": [], "clients": []})
    assert applies(hipaa, {"role": "member", "groups": ["healthcare"], "clients": []})
    assert applies(hipaa, {"role": "member", "groups": [], "clients": ["Northwind Health"]})
    assert applies(policy.item("acceptable-use"), {"role": "owner"})  # no rule: everyone
    assert policy.frameworks_of(hipaa) == ["SOC 2"]
    assert policy.frameworks_of(policy.item("second-factor")) == ["ISO 27001", "SOC 2"]
