"""Withdrawing and redating assigned items, and downloading evidence, on the real server
(SQLite and PostgreSQL): the stored bytes come back with their type, name and hash; a
person reads only their own and another organisation's item is not found; a withdrawn
item is never overdue nor open in reports; a redated one is due on its new date; both
are events the projection is rebuilt from; and a version out of a 32-bit integer's range
is a 422."""

from __future__ import annotations

import base64
import hashlib
from datetime import date, timedelta

from qylon_server.db import Database
from qylon_server.events import store
from qylon_server.events.compliance import rebuild_items
from qylon_server.tenancy import org_session

from .harness import direct_key, new_org

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
POLICY = """
name: revise-policy
version: 1
title: Revise
frameworks: [GDPR]
escalation:
  - {after: 1d, notify: person}
items:
  - {id: read-it, title: Read it, kind: acknowledge, due: 1d, document: The text.}
  - {id: screenshot, title: A screenshot, kind: certificate, due: 2d,
     evidence: {type: file, content_types: [image/png]}}
  - {id: training, title: Training, kind: training, due: 3d}
"""


def _setup(api, org, backend, email="ana@firm.example", start="2026-01-05"):
    assert api.post("/v1/compliance/policies", org.token, json={"text": POLICY}).status_code in (
        200,
        201,
    )
    person = api.post("/v1/users", org.token, json={"email": email}).json()
    r = api.post(
        "/v1/compliance/assignments",
        org.token,
        json={"policy": "revise-policy", "users": [email], "start_date": start},
    )
    assert r.status_code == 200, r.text
    key = direct_key(backend, org.id, person["id"], ["read", "write"])
    return person, key, {a["item"]: a for a in r.json()["assigned"]}


def _complete_png(api, token, item_id, name="shot.png"):
    body = {
        "content_base64": base64.b64encode(PNG).decode(),
        "content_type": "image/png",
        "filename": name,
    }
    done = api.post(f"/v1/compliance/items/{item_id}/complete", token, json=body)
    assert done.status_code == 200, done.text


def test_evidence_comes_back_as_stored_to_its_owner_and_admins(api, org, backend):
    _, ana, items = _setup(api, org, backend)
    _, bo, _ = _setup(api, org, backend, email="bo@firm.example")
    shot = items["screenshot"]["id"]
    assert api.get(f"/v1/compliance/items/{shot}/evidence", ana).status_code == 404  # not yet
    _complete_png(api, ana, shot, name="my shot (1).png")
    for token in (ana, org.token):
        got = api.get(f"/v1/compliance/items/{shot}/evidence", token)
        assert got.status_code == 200, got.text
        assert got.content == PNG
        assert got.headers["content-type"] == "image/png"
        assert got.headers["x-evidence-sha256"] == hashlib.sha256(PNG).hexdigest()
        assert 'filename="my_shot__1_.png"' in got.headers["content-disposition"]
        assert "filename*=UTF-8''my%20shot%20%281%29.png" in got.headers["content-disposition"]
    assert api.get(f"/v1/compliance/items/{shot}/evidence", bo).status_code == 404  # not theirs
    stranger = new_org(backend)
    assert api.get(f"/v1/compliance/items/{shot}/evidence", stranger.token).status_code == 404
    ack = items["read-it"]["id"]
    assert api.post(f"/v1/compliance/items/{ack}/complete", ana, json={"acknowledge": True})
    missing = api.get(f"/v1/compliance/items/{ack}/evidence", ana)  # acknowledged: no file
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api.get("/v1/compliance/items/nope/evidence", org.token).status_code == 404


def test_a_withdrawn_item_is_neither_overdue_nor_open(api, org, backend):
    _, ana, items = _setup(api, org, backend)  # started 2026-01-05: everything overdue
    training = items["training"]["id"]
    overdue = api.get("/v1/compliance/items?overdue=true", org.token).json()["items"]
    assert training in {i["id"] for i in overdue}
    no = api.post(f"/v1/compliance/items/{training}/withdraw", ana, json={"reason": "mine"})
    assert no.status_code == 403
    r = api.post(
        f"/v1/compliance/items/{training}/withdraw", org.token, json={"reason": "Not needed"}
    )
    assert r.status_code == 200, r.text
    gone = r.json()
    assert gone["status"] == "withdrawn" and gone["overdue_days"] == 0
    assert gone["withdrawn_reason"] == "Not needed" and gone["withdrawn_at"]
    assert gone["email"] == "ana@firm.example"
    overdue = api.get("/v1/compliance/items?overdue=true", org.token).json()["items"]
    assert training not in {i["id"] for i in overdue}
    report = api.get("/v1/compliance/report?framework=GDPR", org.token).json()
    row = next(r for r in report["rows"] if r["item"] == "training")
    assert row["status"] == "withdrawn" and row["overdue_days"] == 0
    assert report["summary"]["withdrawn"] == 1
    assert report["summary"]["open"] == report["summary"]["items"] - 1
    assert report["summary"]["overdue"] == 2  # the other two
    md = api.get("/v1/compliance/report?framework=GDPR&format=md", org.token).text
    assert "1 withdrawn." in md
    again = api.post(f"/v1/compliance/items/{training}/withdraw", org.token, json={"reason": "x"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "withdrawn"
    done = api.post(
        f"/v1/compliance/items/{training}/complete",
        ana,
        json={"content_base64": base64.b64encode(b"%PDF-1.4").decode(), "content_type": "application/pdf"},
    )  # fmt: skip
    assert done.status_code == 409 and done.json()["error"]["code"] == "withdrawn"
    ack = items["read-it"]["id"]
    api.post(f"/v1/compliance/items/{ack}/complete", ana, json={"acknowledge": True})
    late = api.post(f"/v1/compliance/items/{ack}/withdraw", org.token, json={"reason": "x"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "already_completed"
    empty = api.post(f"/v1/compliance/items/{ack}/withdraw", org.token, json={"reason": ""})
    assert empty.status_code == 422
    _replayed_alike(api, org, backend)


def test_a_redated_item_is_due_on_its_new_date(api, org, backend):
    _, ana, items = _setup(api, org, backend)
    training = items["training"]["id"]
    assert items["training"]["due_date"] == "2026-01-08"
    later = (date.today() + timedelta(days=30)).isoformat()
    no = api.post(f"/v1/compliance/items/{training}/redate", ana, json={"due_date": later})
    assert no.status_code == 403
    r = api.post(
        f"/v1/compliance/items/{training}/redate",
        org.token,
        json={"due_date": later, "reason": "On leave"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["due_date"] == later and r.json()["overdue_days"] == 0
    assert r.json()["run_id"]  # the escalation run that follows it
    overdue = api.get("/v1/compliance/items?overdue=true", org.token).json()["items"]
    assert training not in {i["id"] for i in overdue}
    same = api.post(f"/v1/compliance/items/{training}/redate", org.token, json={"due_date": later})
    assert same.status_code == 200 and same.json()["due_date"] == later
    early = api.post(
        f"/v1/compliance/items/{training}/redate", org.token, json={"due_date": "2025-12-31"}
    )
    assert early.status_code == 422  # before the start date
    far = api.post(
        f"/v1/compliance/items/{training}/redate", org.token, json={"due_date": "2036-02-01"}
    )
    assert far.status_code == 422  # over ten years after it
    bad = api.post(f"/v1/compliance/items/{training}/redate", org.token, json={"due_date": "soon"})
    assert bad.status_code == 422
    back = api.post(
        f"/v1/compliance/items/{training}/redate", org.token, json={"due_date": "2026-01-10"}
    )
    assert back.json()["overdue_days"] == (date.today() - date(2026, 1, 10)).days
    ack = items["read-it"]["id"]
    api.post(f"/v1/compliance/items/{ack}/complete", ana, json={"acknowledge": True})
    done = api.post(f"/v1/compliance/items/{ack}/redate", org.token, json={"due_date": later})
    assert done.status_code == 409
    stranger = new_org(backend)
    other = api.post(
        f"/v1/compliance/items/{training}/redate", stranger.token, json={"due_date": later}
    )
    assert other.status_code == 404
    kinds = _event_types(backend, org.id)
    assert kinds.count("compliance.item_redated") == 2  # the same date again is no event
    _replayed_alike(api, org, backend)


def test_a_version_out_of_range_is_refused(api, org):
    body = {"policy": "revise-policy", "version": 2**31, "users": ["x@firm.example"]}
    r = api.post("/v1/compliance/assignments", org.token, json=body)
    assert r.status_code == 422, r.text
    body["version"] = 2**31 - 1  # in range: no such version
    assert api.post("/v1/compliance/assignments", org.token, json=body).status_code == 404


def _event_types(backend, org_id) -> list[str]:
    db = Database(backend.admin_url)
    try:
        with org_session(db, org_id) as s:
            return [r.event.TYPE for r in store.walk(s, types=("compliance.item_redated",))]
    finally:
        db.dispose()


def _replayed_alike(api, org, backend) -> None:
    """The projection rebuilt from the events is what the API showed."""
    live = api.get("/v1/compliance/items", org.token).json()["items"]
    db = Database(backend.admin_url)
    try:
        with org_session(db, org.id) as s:
            from qylon_server.models import ComplianceItem

            for row in s.query(ComplianceItem):  # spoil it: replay must mend it
                row.status, row.due_date, row.withdrawn_at = "assigned", "2000-01-01", None
        with org_session(db, org.id) as s:
            rebuild_items(s)
    finally:
        db.dispose()
    assert api.get("/v1/compliance/items", org.token).json()["items"] == live


def test_a_withdrawn_item_leaves_the_persons_pages(api, org, backend):
    from urllib.parse import quote, urlsplit

    from qylon_server import links

    from .harness import settings_for

    person, _, items = _setup(api, org, backend)
    ack = items["read-it"]["id"]
    address = api.post("/v1/compliance/links", org.token, json={"user": person["id"]}).json()
    checklist = urlsplit(address["checklist"])
    page = api.http.get(f"{checklist.path}?{checklist.query}")
    assert page.status_code == 200 and "Read it" in page.text
    r = api.post(f"/v1/compliance/items/{ack}/withdraw", org.token, json={"reason": "Not needed"})
    assert r.status_code == 200, r.text
    page = api.http.get(f"{checklist.path}?{checklist.query}")
    assert page.status_code == 200 and "Read it" not in page.text and "Training" in page.text
    token = links.sign(settings_for(backend), links.Link("acknowledge", org.id, person["id"], ack))
    form = api.http.get(f"/p/acknowledge?t={quote(token)}")
    assert form.status_code == 400 and "not valid" in form.text
