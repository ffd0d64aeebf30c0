"""The daily digest of a person's action items (docs/notifications.md), on SQLite through
the API with a real SMTP server (aiosmtpd). Time moves by the engine's ``clock`` signal
(its payload's ``now`` is the digest's time), never by patching ``time``."""

from __future__ import annotations

import json
import re
import time
import uuid
from urllib.parse import urlsplit

import pytest

from .harness import START_S, Api, new_org, running
from .smtp_relay import serving

pytestmark = pytest.mark.xdist_group("workflows")

DAY1, DAY2 = "2026-12-10", "2026-12-11"  # 08:00 in Paris is 07:00 UTC in December


@pytest.fixture(scope="module")
def relay():
    with serving() as relay:
        yield relay


@pytest.fixture(scope="module")
def runner(team_servers):
    backend = team_servers.backend("sqlite")
    with running(
        backend,
        workflow_executor=f"dig-{uuid.uuid4().hex[:8]}",
        mail_from="server@qylon.example",
        smtp_url="smtp://127.0.0.1:9",  # nothing there: the organisation's relay is used
    ) as server:
        api = Api(server.url, backend)
        yield api, backend
        api.http.close()


def _org(api, backend, relay):
    org = new_org(backend)
    settings = {"smtp_url": relay.url, "mail_from": "hello@firm.example"}
    assert api.put("/v1/onboarding/mail-settings", org.token, json=settings).status_code == 200
    return org


def _member(api, org, email, name):
    body = {"email": email, "display_name": name, "time_zone": "Europe/Paris"}
    user = api.post("/v1/users", org.token, json=body)
    assert user.status_code == 201, user.text
    key = {"name": "me", "scopes": ["read", "write"], "user_id": user.json()["id"]}
    made = api.post("/v1/api-keys", org.token, json=key)
    assert made.status_code == 201, made.text
    return user.json()["id"], made.json()["token"]


def _meeting(api, token, title, items):
    meeting_id = str(uuid.uuid4())
    body = {
        "id": meeting_id,
        "title": title,
        "created_at": "2026-12-01T10:00:00Z",
        "duration_s": 60.0,
        "speakers": [{"id": "S1", "name": "Ana Lima", "talk_time_s": 30.0}],
        "segments": [{"start": 0.0, "end": 2.0, "speaker": "S1", "text": "Hi."}],
        "action_items": items,
    }
    assert api.put(f"/v1/meetings/{meeting_id}", token, json=body).status_code == 201


def _daily(api, token) -> str:
    r = api.put("/v1/me/notifications", token, json={"digest": "daily", "digest_hour": 8})
    assert r.status_code == 200, r.text
    assert r.json()["time_zone"] == "Europe/Paris"
    return r.json()["digest_run_id"]


def _send_on(api, token, run_id, day, timeout=60):
    """Move the run's clock to 08:00 Paris on ``day`` (an admin's signal: ``token``); the
    send step's output."""
    payload = {"payload": {"now": f"{day}T07:00:00+00:00"}}
    r = api.post(f"/v1/workflow-runs/{run_id}/signals/clock", token, json=payload)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/v1/workflow-runs/{run_id}", token).json()
        steps = {s["name"]: s for s in run["steps"] or []}
        if steps.get("next", {}).get("status") == "completed":
            return steps["send"]["output"]
        assert run["status"] in ("enqueued", "running") and time.monotonic() < deadline, run
        time.sleep(0.1)


def test_a_digest_lists_open_items_marks_overdue_and_respects_unsubscribe(runner, relay):
    api, backend = runner
    org = _org(api, backend, relay)
    ana_email = f"ana-{uuid.uuid4().hex[:6]}@firm.example"
    ana, ana_token = _member(api, org, ana_email, "Ana Lima")
    _meeting(api, org.token, "Acme kickoff", [
        {"id": "a1", "owner": "Ana Lima", "task": "Send the plan", "due": "2026-12-09"},
        {"id": "a2", "owner": "Bo", "task": "Not hers"},
        {"id": "a3", "owner": "ana lima", "task": "Done already", "status": "done"},
    ])  # fmt: skip
    _meeting(api, org.token, "Acme review", [
        {"id": "b1", "owner": ana_email, "task": "Book the room", "due": "2026-12-20"},
    ])  # fmt: skip
    other = _org(api, backend, relay)  # the same name and address in another organisation
    _member(api, other, ana_email, "Ana Lima")
    _meeting(api, other.token, "Elsewhere", [
        {"id": "c1", "owner": "Ana Lima", "task": "Another org's secret", "due": "2026-12-01"},
    ])  # fmt: skip

    run_id = _daily(api, ana_token)
    sent = _send_on(api, org.token, run_id, DAY1)
    assert sent["sent"] is True and (sent["open"], sent["overdue"]) == (2, 1), sent
    [msg] = [m for m in relay.messages if m["To"] == ana_email]
    assert msg["Subject"] == "Your action items: 2 open, 1 overdue"
    assert msg["Message-ID"].strip() == sent["message_id"] == f"<digest.{ana}.{DAY1}@firm.example>"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Acme kickoff" in text and "Acme review" in text
    assert "OVERDUE Send the plan (due 2026-12-09)" in text
    assert "- Book the room (due 2026-12-20)" in text
    assert "<strong>OVERDUE</strong> Send the plan" in html
    for absent in ("Not hers", "Done already", "Another org's secret"):
        assert absent not in text and absent not in html
    assert "daily digest" in text

    # the next day's run was started by this one; unsubscribing stops what it would send
    following = api.get("/v1/me/notifications", ana_token).json()["digest_run_id"]
    assert following and following != run_id
    link = urlsplit(re.fullmatch(r"<(.+)>", msg["List-Unsubscribe"])[1])
    assert api.http.post(f"{link.path}?{link.query}").status_code == 200
    later = _send_on(api, org.token, following, DAY2)
    assert later == {"sent": False, "reason": "unsubscribed"}
    assert len([m for m in relay.messages if m["To"] == ana_email]) == 1


def test_a_person_with_nothing_open_gets_nothing_and_off_stops_the_digest(runner, relay):
    api, backend = runner
    org = _org(api, backend, relay)
    email = f"bo-{uuid.uuid4().hex[:6]}@firm.example"
    _, token = _member(api, org, email, "Bo Chen")
    _meeting(api, org.token, "Kickoff", [{"id": "a1", "owner": "Someone", "task": "Theirs"}])
    run_id = _daily(api, token)
    assert _send_on(api, org.token, run_id, DAY1)["reason"] == "nothing open"
    assert not [m for m in relay.messages if m["To"] == email]

    following = api.get("/v1/me/notifications", token).json()["digest_run_id"]
    off = api.put("/v1/me/notifications", token, json={"digest": "off"}).json()
    assert off["digest"] == "off" and off["digest_run_id"] is None
    payload = {"payload": {"now": f"{DAY2}T07:00:00+00:00"}}
    api.post(f"/v1/workflow-runs/{following}/signals/clock", org.token, json=payload)
    deadline = time.monotonic() + 60
    while (run := api.get(f"/v1/workflow-runs/{following}", org.token).json())["status"] != (
        "completed"
    ):
        assert run["status"] in ("enqueued", "running") and time.monotonic() < deadline, run
        time.sleep(0.1)
    steps = {s["name"]: s for s in run["steps"]}
    # it ends at its plan (the digest is off) or, had it planned before, at its send
    assert steps["plan"]["output"]["go"] is False or steps["send"]["output"] == {
        "sent": False,
        "reason": "not the current digest",
    }
    assert not [m for m in relay.messages if m["To"] == email]


def test_the_cli_shows_and_sets_the_digest(runner, relay):
    from ..conftest import credentials, run_qylon_here

    api, backend = runner
    org = _org(api, backend, relay)
    _, token = _member(api, org, f"cy-{uuid.uuid4().hex[:6]}@firm.example", "Cy Diaz")
    env = credentials(str(api.http.base_url).rstrip("/"), token)

    def qylon(*args: str) -> dict:
        done = run_qylon_here("notifications", *args, "--json", env=env)
        assert done.code == 0, done.stderr
        return json.loads(done.stdout)["data"]

    shown = qylon("show")
    assert (shown["digest"], shown["digest_hour"], shown["time_zone"]) == (
        "off",
        8,
        "Europe/Paris",
    )
    on = qylon("set", "--digest", "daily", "--hour", "7")
    assert (on["digest"], on["digest_hour"]) == ("daily", 7) and on["digest_run_id"]
    assert qylon("show")["digest_run_id"] == on["digest_run_id"]
    daily = {"digest": "daily"}
    same = api.put("/v1/me/notifications", token, json=daily).json()["digest_run_id"]
    assert same == on["digest_run_id"]  # still waiting: nothing new
    cancel = api.post(f"/v1/workflow-runs/{on['digest_run_id']}/cancel", org.token, json={})
    assert cancel.status_code == 202, cancel.text
    deadline = time.monotonic() + START_S
    while api.get(f"/v1/workflow-runs/{on['digest_run_id']}", org.token).json()["status"] != (
        "cancelled"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    again = api.put("/v1/me/notifications", token, json=daily).json()["digest_run_id"]
    assert again and again != on["digest_run_id"]  # its chain had ended: a new run
    assert qylon("set", "--digest", "off")["digest_run_id"] is None
    bad = run_qylon_here("notifications", "set", "--digest", "weekly", "--json", env=env)
    assert bad.code != 0 and json.loads(bad.stdout)["error"]["code"]


def test_the_next_digest_hour_is_local_and_strictly_later():
    from datetime import UTC, datetime

    from qylon_server.workflows.digest import next_due

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    # 08:00 in Paris: 07:00 UTC in winter, 06:00 UTC in summer
    assert next_due(at("2026-12-10T06:59:00"), 8, "Europe/Paris") == at("2026-12-10T07:00:00")
    assert next_due(at("2026-12-10T07:00:00"), 8, "Europe/Paris") == at("2026-12-11T07:00:00")
    assert next_due(at("2026-07-01T05:00:00"), 8, "Europe/Paris") == at("2026-07-01T06:00:00")
    # 02:00 does not exist in Paris on 2026-03-29: just after the gap (03:00 CEST)
    assert next_due(at("2026-03-28T23:00:00"), 2, "Europe/Paris") == at("2026-03-29T01:00:00")
    # across the date line: 08:00 in Auckland on the 11th is 19:00 UTC on the 10th
    assert next_due(at("2026-12-10T12:00:00"), 8, "Pacific/Auckland") == at("2026-12-10T19:00:00")
