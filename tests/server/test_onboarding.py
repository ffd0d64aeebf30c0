"""Email sequences on SQLite and PostgreSQL, through the API with a real SMTP server
(aiosmtpd): uploads checked and versioned, starts idempotent per person and sequence,
stop, conditions on completed items, permanent bounces, the organisation's relay (its
URL never shown), the `sleep_until` step, and the onboardings projection's replay."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from .harness import Api, direct_key, new_org, running
from .smtp_relay import serving
from .workflow_support import stuck, wait_for

pytestmark = pytest.mark.xdist_group("workflows")
ROOT = Path(__file__).parents[2]

TEMPLATE = "---\nsubject: Hello {{ person.first_name }}\n---\nStep {{ sequence.step }}.\n"
SHORT = """
name: short
version: 1
stop_if: [{completed: all-done}]
steps:
  - name: first
    template: hello
  - name: second
    template: hello
    delay: 1
    skip_if: [{completed: data-protection-policy}]
  - name: third
    template: hello
    delay: 1
"""


@pytest.fixture(scope="module")
def relay():
    with serving() as relay:
        yield relay


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def runner(request, team_servers):
    backend = team_servers.backend(request.param)
    with running(
        backend,
        workflow_executor=f"onb-{uuid.uuid4().hex[:8]}",
        mail_from="server@qylon.example",
        smtp_url="smtp://127.0.0.1:9",  # nothing there: each org sets its own relay
    ) as server:
        api = Api(server.url, backend)
        yield api, backend
        api.http.close()


def _org(api, backend, relay, name=None):
    org = new_org(backend, name)
    r = api.put(
        "/v1/onboarding/mail-settings",
        org.token,
        json={
            "smtp_url": relay.url,
            "mail_from": "hello@firm.example",
            "time_zone": "Europe/Paris",
        },
    )
    assert r.status_code == 200, r.text
    r = api.post(
        "/v1/onboarding/sequences",
        org.token,
        json={"text": SHORT, "templates": {"hello": TEMPLATE}},
    )
    assert r.status_code == 201, r.text
    return org


def _person(api, org, email, **extra):
    r = api.post("/v1/users", org.token, json={"email": email, "given_name": "Ana", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def _start(api, org, email, sequence="short"):
    return api.post("/v1/onboarding", org.token, json={"email": email, "sequence": sequence})


def _steps(api, org, run_id):
    run = api.get(f"/v1/workflow-runs/{run_id}", org.token).json()
    return {s["name"]: s for s in run["steps"] or []}


def _until(api, org, run_id, step, status="sleeping", timeout=60):
    deadline = time.monotonic() + timeout
    while _steps(api, org, run_id).get(step, {}).get("status") != status:
        run = api.get(f"/v1/workflow-runs/{run_id}", org.token).json()
        assert time.monotonic() < deadline, stuck(api, run)
        time.sleep(0.1)


def _clock(api, org, run_id):
    r = api.post(f"/v1/workflow-runs/{run_id}/signals/clock", org.token, json={})
    assert r.status_code == 202, r.text


def _to(relay, email):
    return [m for m in relay.messages if m["To"] == email]


def test_uploads_are_checked_versioned_and_compiled(runner, relay):
    api, backend = runner
    org = _org(api, backend, relay)
    bad = api.post(
        "/v1/onboarding/sequences",
        org.token,
        json={"text": SHORT.replace("delay: 1\n    skip", "delay: -1\n    skip"), "templates": {}},
    )
    assert bad.status_code == 422 and "upload:10: steps[1].delay" in bad.json()["error"]["message"]
    broken = {"hello": "---\nsubject: Hi\n---\nok\n{{ persn.name }}\n"}
    bad = api.post(
        "/v1/onboarding/sequences",
        org.token,
        json={"text": SHORT.replace("version: 1", "version: 2"), "templates": broken},
    )
    assert bad.status_code == 422 and "hello.md.j2" in bad.json()["error"]["message"]
    again = api.post(
        "/v1/onboarding/sequences",
        org.token,
        json={"text": SHORT, "templates": {"hello": TEMPLATE}},
    )
    assert again.status_code == 200
    changed = api.post(
        "/v1/onboarding/sequences",
        org.token,
        json={"text": SHORT, "templates": {"hello": TEMPLATE + "More.\n"}},
    )
    assert changed.status_code == 409
    flow = api.get("/v1/workflows/onboarding.short", org.token).json()
    assert flow["version"] == 1 and "sleep_until" in flow["text"]
    listed = api.get("/v1/onboarding/sequences", org.token).json()["items"]
    assert [(s["name"], s["version"], s["templates"]) for s in listed] == [("short", 1, ["hello"])]


def test_start_is_idempotent_conditions_apply_and_stop_ends_the_wait(runner, relay):
    api, backend = runner
    org = _org(api, backend, relay)
    person = _person(api, org, f"ana-{uuid.uuid4().hex[:6]}@firm.example", time_zone="Asia/Tokyo")
    first = _start(api, org, person["email"])
    assert first.status_code == 202, first.text
    second = _start(api, org, person["email"])
    assert second.status_code == 200 and second.json()["run_id"] == first.json()["run_id"]
    run_id = first.json()["run_id"]
    _until(api, org, run_id, "second_wait")
    (hello,) = _to(relay, person["email"])
    assert hello["Message-ID"] == f"<{run_id}.first@firm.example>"
    assert hello["From"] == "hello@firm.example" and hello["Subject"] == "Hello Ana"
    assert hello["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plan = _steps(api, org, run_id)["second_plan"]["output"]
    assert plan["time_zone"] == "Asia/Tokyo" and plan["local"].endswith("+09:00")

    # the person completes a compliance item: the second email is skipped, the third goes
    gdpr = (ROOT / "config/compliance/gdpr-consultant-onboarding.yaml").read_text()
    assert api.post("/v1/compliance/policies", org.token, json={"text": gdpr}).status_code in (
        200,
        201,
    )
    assigned = api.post(
        "/v1/compliance/assignments",
        org.token,
        json={"policy": "gdpr-consultant-onboarding", "all": True},
    )
    assert assigned.status_code == 200, assigned.text
    key = direct_key(backend, org.id, person["id"], ["read", "write"])
    items = {i["item"]: i for i in api.get("/v1/compliance/items", key).json()["items"]}
    done = api.post(
        f"/v1/compliance/items/{items['data-protection-policy']['id']}/complete",
        key,
        json={"acknowledge": True},
    )
    assert done.status_code == 200, done.text
    _clock(api, org, run_id)
    _until(api, org, run_id, "third_wait")
    assert _steps(api, org, run_id)["second"]["output"] == {
        "sent": False,
        "reason": "completed data-protection-policy",
    }
    assert len(_to(relay, person["email"])) == 1

    stopped = api.post("/v1/onboarding/stop", org.token, json={"email": person["email"]})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["items"][0]["status"] == "stopped"
    run = wait_for(api, org.token, run_id)
    assert run["status"] == "cancelled"  # the wait ended at once; nothing more was sent
    assert len(_to(relay, person["email"])) == 1
    (row,) = api.get("/v1/onboarding", org.token, params={"email": person["email"]}).json()["items"]
    assert (row["status"], row["reason"], row["emails_sent"]) == ("stopped", "stopped", 1)


def test_a_permanent_refusal_marks_the_address_and_later_emails_skip_it(runner, relay):
    api, backend = runner
    org = _org(api, backend, relay)
    email = f"gone-{uuid.uuid4().hex[:6]}@firm.example"
    relay.bounce.add(email)
    person = _person(api, org, email)
    run_id = _start(api, org, email).json()["run_id"]
    _until(api, org, run_id, "second_wait")
    first = _steps(api, org, run_id)["first"]
    assert first["status"] == "completed" and first["attempts"] == 1
    assert first["output"] == {"sent": False, "reason": f"{email} bounced (550)"}
    relay.bounce.discard(email)  # even were it back, the address stays marked
    _clock(api, org, run_id)
    _until(api, org, run_id, "third_wait")
    assert _steps(api, org, run_id)["second"]["output"]["reason"] == f"{email} bounced"
    assert _to(relay, email) == []
    events = api.get(
        "/v1/events", org.token, params={"stream": f"onboarding:{person['id']}"}
    ).json()["items"]
    assert [e["type"] for e in events] == [
        "onboarding.started",
        "onboarding.bounced",
        "onboarding.email_skipped",
        "onboarding.email_skipped",
    ]

    # the projections replay from the events to the same rows
    from qylon_server.db import Database
    from qylon_server.events import projections
    from qylon_server.models import MailSuppression, Onboarding
    from qylon_server.tenancy import org_session
    from sqlalchemy import select

    def rows():
        with org_session(db, org.id) as s:
            ons = [
                (o.user_id, o.sequence, o.status, o.emails_sent, o.run_id)
                for o in s.scalars(select(Onboarding))
            ]
            return ons, [(m.email, m.reason) for m in s.scalars(select(MailSuppression))]

    db = Database(backend.admin_url)
    try:
        before = rows()
        assert before[1] == [(email, "bounced")]
        projections.rebuild(db, "onboardings", org.id)
        assert rows() == before
    finally:
        db.dispose()


def test_the_relay_url_is_never_shown_and_settings_are_checked(runner, relay):
    api, backend = runner
    org = new_org(backend)
    secret = "smtps://mailer:s3cret-pass@mail.firm.example:465"
    r = api.put("/v1/onboarding/mail-settings", org.token, json={"smtp_url": secret})
    assert r.status_code == 200 and "s3cret" not in r.text
    assert r.json()["relay_host"] == "mail.firm.example" and r.json()["smtp_url_set"] is True
    shown = api.get("/v1/onboarding/mail-settings", org.token)
    assert "s3cret" not in shown.text and shown.json()["mail_from"] == "server@qylon.example"
    audit = api.get("/v1/audit-events", org.token, params={"limit": 20}).json()["items"]
    assert "s3cret" not in str(audit)
    for body in ({"smtp_url": "http://x"}, {"mail_from": "nobody"}, {"time_zone": "Mars/Base"}):
        assert api.put("/v1/onboarding/mail-settings", org.token, json=body).status_code == 422
    cleared = api.put("/v1/onboarding/mail-settings", org.token, json={"smtp_url": ""})
    assert cleared.json()["relay_source"] == "server"
    missing = _start(api, org, "nobody@firm.example")
    assert missing.status_code == 404


SLEEP_UNTIL = """
name: wake-up
version: 1
input:
  at: {type: string, required: true}
steps:
  - name: nap
    sleep_until: "{{ input.at }}"
  - name: tell
    action: notify
    with: {to: someone@firm.example, subject: awake}
"""


def test_sleep_until_waits_for_its_time_and_clock_ends_it_early(runner):
    """The engine's `sleep_until` step: a time past does not wait; a time to come is
    recorded as the step's `until` and the `clock` signal ends the wait."""
    api, backend = runner
    org = new_org(backend)
    assert api.post("/v1/workflows", org.token, json={"text": SLEEP_UNTIL}).status_code == 201

    def start(at):
        r = api.post("/v1/workflows/wake-up/runs", org.token, json={"input": {"at": at}})
        assert r.status_code == 202, r.text
        return r.json()["id"]

    past = wait_for(api, org.token, start("2020-01-01T00:00:00+00:00"))
    assert past["status"] == "completed", past
    run_id = start("2099-06-01T09:00:00+02:00")
    _until(api, org, run_id, "nap")
    from qylon_server.db import Database
    from qylon_server.models import FlowRun
    from qylon_server.tenancy import org_session

    db = Database(backend.admin_url)
    try:
        with org_session(db, org.id) as session:
            nap = session.get(FlowRun, run_id).steps["nap"]
    finally:
        db.dispose()
    assert nap["status"] == "sleeping" and nap["until"] == "2099-06-01T07:00:00+00:00"
    run = api.get(f"/v1/workflow-runs/{run_id}", org.token).json()
    assert run["status"] == "running"
    _clock(api, org, run_id)
    assert wait_for(api, org.token, run_id)["status"] == "completed"
    bad = wait_for(api, org.token, start("next tuesday"))
    assert bad["status"] == "failed" and bad["steps"][0]["error"]["code"] == "invalid_input"
