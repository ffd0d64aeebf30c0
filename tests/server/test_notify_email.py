"""Per-event email notifications (docs/notifications.md), on SQLite through the API with a
real SMTP server (aiosmtpd): one durable run per person and event, mailed only to the
people the event is about who want its type (theirs, else the organisation's defaults)."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

import pytest

from .harness import Api, running
from .test_digest import _meeting, _member, _org, relay  # noqa: F401 - the fixture

pytestmark = pytest.mark.xdist_group("workflows")


@pytest.fixture(scope="module")
def runner(team_servers):
    backend = team_servers.backend("sqlite")
    with running(
        backend,
        workflow_executor=f"ntf-{uuid.uuid4().hex[:8]}",
        mail_from="server@qylon.example",
        smtp_url="smtp://127.0.0.1:9",  # nothing there: the organisation's relay is used
    ) as server:
        api = Api(server.url, backend)
        yield api, backend
        api.http.close()


def _settled(api, token, timeout=60) -> list[dict]:
    """The organisation's notification runs once none is still going; their send outputs."""
    deadline = time.monotonic() + timeout
    while True:
        page = api.get("/v1/workflow-runs?name=notifications.event&limit=200", token).json()
        runs = page["items"]
        if all(r["status"] not in ("enqueued", "running") for r in runs):
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.1)
    outputs = []
    for r in runs:
        assert r["status"] == "completed", r
        run = api.get(f"/v1/workflow-runs/{r['id']}", token).json()
        outputs.append({s["name"]: s for s in run["steps"]}["send"]["output"])
    return outputs


def _to(relay, email) -> list:  # noqa: F811 - the fixture's name
    return [m for m in relay.messages if m["To"] == email]


def test_a_subscriber_is_mailed_once_about_their_items_and_not_about_others(runner, relay):  # noqa: F811
    api, backend = runner
    org = _org(api, backend, relay)
    ana_email = f"ana-{uuid.uuid4().hex[:6]}@firm.example"
    bo_email = f"bo-{uuid.uuid4().hex[:6]}@firm.example"
    ana, ana_token = _member(api, org, ana_email, "Ana Lima")
    _, bo_token = _member(api, org, bo_email, "Bo Chen")
    on = api.put("/v1/me/notifications", ana_token, json={"events": ["meeting.stored"]})
    assert on.status_code == 200, on.text
    assert (on.json()["events"], on.json()["events_from"]) == (["meeting.stored"], "own")
    bad = api.put("/v1/me/notifications", ana_token, json={"events": ["meeting.nope"]})
    assert bad.status_code == 422 and "meeting.nope" in bad.text
    # another organisation: the same person's name owns an item there; it never mails her
    other = _org(api, backend, relay)
    _member(api, other, f"x-{uuid.uuid4().hex[:6]}@firm.example", "Ana Lima")
    _meeting(api, other.token, "Elsewhere", [{"id": "c1", "owner": "Ana Lima", "task": "Secret"}])

    _meeting(api, org.token, "Acme kickoff", [
        {"id": "a1", "owner": "ana lima", "task": "Send the plan", "due": "2026-12-09"},
        {"id": "a2", "owner": "Bo Chen", "task": "Not hers"},
    ])  # fmt: skip
    _meeting(api, org.token, "Bo only", [{"id": "b1", "owner": bo_email, "task": "His"}])
    [sent] = _settled(api, org.token)  # Bo chose nothing and there are no defaults: no run
    assert sent["sent"] is True and sent["to"] == ana_email, sent
    [msg] = _to(relay, ana_email)
    assert msg["Subject"] == "Action items for you: Acme kickoff"
    assert re.fullmatch(rf"<notify\.[0-9a-f-]+\.{ana}@firm\.example>", msg["Message-ID"].strip())
    assert msg["Message-ID"].strip() == sent["message_id"]
    text = msg.get_body(("plain",)).get_content()
    assert "- Send the plan (due 2026-12-09)" in text and "Not hers" not in text
    assert "Secret" not in text and not _to(relay, bo_email)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # unsubscribing (the same link as the digest's) stops what the next event would send
    link = urlsplit(re.fullmatch(r"<(.+)>", msg["List-Unsubscribe"])[1])
    assert api.http.post(f"{link.path}?{link.query}").status_code == 200
    _meeting(api, org.token, "Acme review", [{"id": "r1", "owner": ana_email, "task": "Again"}])
    outputs = _settled(api, org.token)
    assert {"sent": False, "reason": "unsubscribed"} in outputs
    assert len(_to(relay, ana_email)) == 1
    assert api.get("/v1/notifications/defaults", bo_token).status_code == 403


def test_organisation_defaults_apply_until_a_person_chooses(runner, relay):  # noqa: F811
    api, backend = runner
    org = _org(api, backend, relay)
    cy_email = f"cy-{uuid.uuid4().hex[:6]}@firm.example"
    _, cy_token = _member(api, org, cy_email, "Cy Diaz")
    r = api.put("/v1/notifications/defaults", org.token, json={"events": ["meeting.stored"]})
    assert r.status_code == 200 and r.json() == {"events": ["meeting.stored"]}, r.text
    shown = api.get("/v1/me/notifications", cy_token).json()
    assert (shown["events"], shown["events_from"]) == (["meeting.stored"], "organisation")

    _meeting(api, org.token, "One", [{"id": "a1", "owner": "Cy Diaz", "task": "First"}])
    assert [o["sent"] for o in _settled(api, org.token)] == [True]
    assert len(_to(relay, cy_email)) == 1

    # Cy chooses none: the defaults no longer apply to him; back to them, mailed again
    api.put("/v1/me/notifications", cy_token, json={"events": []})
    _meeting(api, org.token, "Two", [{"id": "a2", "owner": "Cy Diaz", "task": "Second"}])
    assert len(_settled(api, org.token)) == 1 and len(_to(relay, cy_email)) == 1
    back = api.put("/v1/me/notifications", cy_token, json={"events_default": True}).json()
    assert back["events_from"] == "organisation"
    _meeting(api, org.token, "Three", [{"id": "a3", "owner": "Cy Diaz", "task": "Third"}])
    assert [o["sent"] for o in _settled(api, org.token)] == [True, True]
    assert [m["Subject"] for m in _to(relay, cy_email)] == [
        "Action items for you: One",
        "Action items for you: Three",
    ]


def test_the_cli_sets_the_events_and_the_defaults(runner, relay):  # noqa: F811
    import json

    from ..conftest import credentials, run_qylon_here

    api, backend = runner
    org = _org(api, backend, relay)
    _, token = _member(api, org, f"di-{uuid.uuid4().hex[:6]}@firm.example", "Di Eze")
    base = str(api.http.base_url).rstrip("/")

    def qylon(key, *args: str) -> dict:
        done = run_qylon_here("notifications", *args, "--json", env=credentials(base, key))
        assert done.code == 0, done.stderr
        return json.loads(done.stdout)["data"]

    made = qylon(org.token, "defaults", "--set", "compliance.item_escalated")
    assert made == {"events": ["compliance.item_escalated"]}
    assert qylon(token, "show")["events"] == ["compliance.item_escalated"]
    mine = qylon(token, "set", "--events", "meeting.stored,compliance.item_assigned")
    assert mine["events"] == ["compliance.item_assigned", "meeting.stored"]
    assert qylon(token, "set", "--events", "none")["events"] == []
    back = qylon(token, "set", "--events-default")
    assert (back["events"], back["events_from"]) == (["compliance.item_escalated"], "organisation")
    shown = run_qylon_here("notifications", "show", env=credentials(base, token))
    assert "Emails about: compliance.item_escalated (the organisation's defaults)." in shown.stdout
    denied = run_qylon_here("notifications", "defaults", "--json", env=credentials(base, token))
    assert denied.code != 0


def test_an_assigned_compliance_item_mails_its_person_by_the_defaults(runner, relay):  # noqa: F811
    from .test_compliance import GDPR

    api, backend = runner
    org = _org(api, backend, relay)
    ana_email = f"ana-{uuid.uuid4().hex[:6]}@firm.example"
    bo_email = f"bo-{uuid.uuid4().hex[:6]}@firm.example"
    ana, _ = _member(api, org, ana_email, "Ana Lima")
    _, bo_token = _member(api, org, bo_email, "Bo Chen")
    api.put("/v1/notifications/defaults", org.token, json={"events": ["compliance.item_assigned"]})
    assert api.put("/v1/me/notifications", bo_token, json={"events": []}).status_code == 200
    assert api.post("/v1/compliance/policies", org.token, json={"text": GDPR}).status_code == 201
    body = {"policy": "gdpr-consultant-onboarding", "users": [ana_email, bo_email]}
    r = api.post("/v1/compliance/assignments", org.token, json=body)
    assert r.status_code == 200, r.text
    hers = sorted(a["item"] for a in r.json()["assigned"] if a["email"] == ana_email)
    assert hers and any(a["email"] == bo_email for a in r.json()["assigned"])

    outputs = _settled(api, org.token)
    assert len(outputs) == len(hers) and all(o["to"] == ana_email for o in outputs), outputs
    mails = _to(relay, ana_email)
    assert len(mails) == len(hers) and not _to(relay, bo_email)
    assert all(m["Subject"].startswith("New compliance item: ") for m in mails)
    ids = {m["Message-ID"].strip() for m in mails}
    assert len(ids) == len(hers) and all(i.endswith(f".{ana}@firm.example>") for i in ids)
