"""The HubSpot integration end to end: `qylon integrations connect|status|disconnect
hubspot` and `qylon meeting push ID --to hubspot` against a stateful HubSpot fake on
loopback (tests/plugins/hubspot_fake.py), with the plugin loaded through its entry point.

The commands run in-process (``run_qylon_here``: the same entry point, environment,
streams and exit codes as the subprocess); the missing-plugin test runs the real subprocess.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from ..conftest import TEST_PLUGINS, run_qylon, run_qylon_here
from .hubspot_fake import FakeHubSpot
from .loopback import drop_action_item, load_plugin

MEETING_ID = "4b5a0000-0000-4000-8000-0000000000a1"
TOKEN = "pat-eu1-0000-test"


@pytest.fixture(scope="module")
def fake():
    with FakeHubSpot() as server:
        yield server


@pytest.fixture
def hubspot(fake, qylon_home, monkeypatch, tmp_path):
    """A fresh fake HubSpot (one contact, one company, three users) and the plugin loaded,
    pointed at it through the settings' environment variables."""
    load_plugin("hubspot", monkeypatch, tmp_path)
    state = fake.reset()
    state.tokens.add(TOKEN)
    state.contact = state.add(
        "contacts", {"email": "dana@acme.example", "firstname": "Dana", "lastname": "Lee"}
    )
    state.other = state.add("contacts", {"email": "sam@other.example", "firstname": "Sam"})
    state.company = state.add("companies", {"name": "Acme", "domain": "acme.example"})
    state.bob = state.add_owner("bob@consult.example", "Bob", "Stone")
    state.carol = state.add_owner("carol@consult.example", "Carol", "Vance")
    state.add_owner("eve@consult.example", "Eve", "Marsh")
    for key, value in {
        "LOAD_PLUGINS": f"{TEST_PLUGINS},hubspot",
        "HUBSPOT_API_BASE": fake.url,
        "HUBSPOT_TOKEN_URL": f"{fake.url}/oauth/v1/token",
        "HUBSPOT_AUTH_URL": f"{fake.url}/oauth/authorize",
        "HUBSPOT_MAX_RETRIES": "3",
    }.items():
        monkeypatch.setenv(f"QYLON_{key}", value)
    return state


def store_meeting(**changes) -> None:
    from qylon_agent.store.database import Store

    from qylon_cli.schemas import ActionItem, Meeting

    meeting = Meeting(
        id=MEETING_ID,
        title="Weekly sync with Acme",
        client="Acme",
        created_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
        summary="Migration done; sign-off from accounting pending.",
        decisions=["Move the go-live to the end of the month."],
        action_items=[
            ActionItem(
                id="a1", owner="Bob", task="Send the migration report", due=date(2026, 11, 27)
            ),
            ActionItem(id="a2", owner="carol@consult.example", task="Update the project plan"),
            ActionItem(id="a3", owner="Zed", task="Schedule the training session"),
        ],
    )
    store = Store()
    store.save_meeting(meeting.model_copy(update=changes))
    store.close()


def connect(token: str = TOKEN):
    return run_qylon_here(
        "integrations", "connect", "hubspot", "--token-stdin", "--json", input=token
    )


def push(*extra: str):
    return run_qylon_here(
        "meeting",
        "push",
        MEETING_ID[:8],
        "--to",
        "hubspot",
        "--email",
        "dana@acme.example",
        "--json",
        *extra,
    )


def test_push_creates_a_note_and_tasks_and_a_second_push_updates_them_through_a_429(hubspot):
    store_meeting()
    connected = connect()
    assert connected.code == 0, connected.stdout + connected.stderr
    assert connected.json["data"]["connected"] and connected.json["data"]["account"] == 4455667

    first = push()
    assert first.code == 0, first.stdout + first.stderr
    data = first.json["data"]
    assert data["target"] == {"type": "contact", "id": hubspot.contact, "name": "Dana Lee"}
    assert [i["outcome"] for i in data["items"]] == ["created"] * 4
    notes = hubspot.linked("notes", "contacts", hubspot.contact)
    tasks = hubspot.linked("tasks", "contacts", hubspot.contact)
    assert len(notes) == 1 and len(tasks) == 3
    body = notes[0]["properties"]["hs_note_body"]
    assert "Migration done" in body and "Move the go-live" in body
    by_subject = {t["properties"]["hs_task_subject"]: t["properties"] for t in tasks}
    report = by_subject["Send the migration report"]
    assert report["hubspot_owner_id"] == hubspot.bob  # "Bob": the only owner with that first name
    assert report["hs_timestamp"].startswith("2026-11-27")
    assert by_subject["Update the project plan"]["hubspot_owner_id"] == hubspot.carol  # by email
    assert "hubspot_owner_id" not in by_subject["Schedule the training session"]
    assert any("'Zed'" in w for w in data["warnings"])
    assert hubspot.associations[0][4] in (202, 204)

    # Again, with HubSpot's rate limit hit in the middle: waited out, nothing duplicated.
    hubspot.throttle(after=3, times=2, retry_after="0.2")
    second = push()
    assert second.code == 0, second.stdout + second.stderr
    assert [i["outcome"] for i in second.json["data"]["items"]] == ["updated"] * 4
    assert hubspot.throttled == 2
    assert any("rate limit: waited 2 time(s)" in w for w in second.json["data"]["warnings"])
    assert len(hubspot.objects["notes"]) == 1 and len(hubspot.objects["tasks"]) == 3
    ids = {i["key"]: i["crm_id"] for i in second.json["data"]["items"]}
    assert ids == {i["key"]: i["crm_id"] for i in data["items"]}

    # An action item deleted in Qylon: its task goes from HubSpot at the next push, once.
    drop_action_item(MEETING_ID, "a3")
    third = push()
    assert third.code == 0, third.stdout + third.stderr
    outcomes = {i["key"]: i["outcome"] for i in third.json["data"]["items"]}
    assert outcomes == {
        "note": "updated",
        "task:a1": "updated",
        "task:a2": "updated",
        "task:a3": "deleted",
    }
    assert set(hubspot.objects["tasks"]) == {ids["task:a1"], ids["task:a2"]}
    assert [i["outcome"] for i in push().json["data"]["items"]] == ["updated"] * 3


def test_a_failed_item_is_reported_exit_7_and_the_next_push_creates_only_it(hubspot):
    store_meeting()
    assert connect().code == 0
    hubspot.refused_subjects.add("Update the project plan")
    partial = push()
    assert partial.code == 7, partial.stdout + partial.stderr
    err = partial.json["error"]
    assert err["code"] == "push_incomplete"
    outcomes = {i["key"]: i["outcome"] for i in err["push"]["items"]}
    assert outcomes == {
        "note": "created",
        "task:a1": "created",
        "task:a2": "failed",
        "task:a3": "created",
    }
    assert "Property values were not valid" in err["message"]

    hubspot.refused_subjects.clear()
    again = push()
    assert again.code == 0, again.stdout
    outcomes = {i["key"]: i["outcome"] for i in again.json["data"]["items"]}
    assert outcomes == {
        "note": "updated",
        "task:a1": "updated",
        "task:a2": "created",
        "task:a3": "updated",
    }
    assert len(hubspot.objects["tasks"]) == 3 and len(hubspot.objects["notes"]) == 1

    # The ids go with the meeting: deleting it deletes them (HubSpot keeps its objects).
    assert run_qylon_here("meeting", "delete", MEETING_ID, "--yes", "--json").code == 0
    from qylon_agent.store.database import Store

    assert Store().db.execute("SELECT count(*) FROM crm_links").fetchone()[0] == 0


def test_without_a_known_contact_the_company_named_as_client_gets_them(hubspot):
    store_meeting(action_items=[])
    assert connect().code == 0
    pushed = run_qylon_here("meeting", "push", MEETING_ID, "--to", "hubspot", "--json")
    assert pushed.code == 0, pushed.stdout
    assert pushed.json["data"]["target"]["type"] == "company"
    assert len(hubspot.linked("notes", "companies", hubspot.company)) == 1

    hubspot.objects["notes"].clear()  # someone deleted the note in HubSpot: made again
    again = run_qylon_here("meeting", "push", MEETING_ID, "--to", "hubspot", "--json")
    assert [i["outcome"] for i in again.json["data"]["items"]] == ["created"]
    assert len(hubspot.objects["notes"]) == 1

    store_meeting(client="Nobody Ltd", action_items=[])
    missing = run_qylon_here("meeting", "push", MEETING_ID, "--to", "hubspot", "--json")
    assert missing.code == 5 and missing.json["error"]["code"] == "not_found"


def test_connect_checks_the_token_and_status_and_disconnect_follow(hubspot):
    store_meeting()
    refused = connect("pat-wrong")
    assert refused.code == 4 and refused.json["error"]["code"] == "hubspot_invalid_authentication"
    assert (
        run_qylon_here("integrations", "status", "hubspot", "--json").json["data"]["connected"]
        is False
    )
    not_yet = run_qylon_here("meeting", "push", MEETING_ID, "--to", "hubspot", "--json")
    assert not_yet.code == 4 and "connect hubspot" in not_yet.json["error"]["hint"]
    assert connect().code == 0
    status = run_qylon_here("integrations", "status", "hubspot", "--json").json["data"]
    assert status == {
        "connected": True,
        "method": "private_app",
        "source": "keyring",
        "expires_at": None,
        "refreshable": False,
    }
    listed = run_qylon_here("integrations", "list", "--json").json["data"]["items"]
    assert listed[0]["name"] == "hubspot" and listed[0]["connected"] is True
    gone = run_qylon_here("integrations", "disconnect", "hubspot", "--json")
    assert gone.json["data"] == {"name": "hubspot", "disconnected": True}
    no_tty = run_qylon_here("integrations", "connect", "hubspot", "--json")
    assert no_tty.code == 2 and "--token-stdin" in no_tty.json["error"]["hint"]


def test_oauth_with_pkce_on_a_loopback_redirect_then_refresh(hubspot, monkeypatch):
    import httpx2
    from qylon_hubspot import auth
    from qylon_hubspot.provider import HubSpot

    hubspot.client.update(id="app-123", secret="shh")
    hubspot.expires_in = 30  # under a minute: every use refreshes it first
    monkeypatch.setenv("QYLON_HUBSPOT_CLIENT_ID", "app-123")
    monkeypatch.setenv("QYLON_HUBSPOT_CLIENT_SECRET", "shh")
    monkeypatch.setenv("QYLON_HUBSPOT_REDIRECT_PORT", "0")
    from qylon_cli import plugins

    plugins.reset()

    def browser(url: str) -> None:  # the user consents: HubSpot redirects to the loopback port
        threading.Thread(target=httpx2.get, args=(url,), kwargs={"follow_redirects": True}).start()

    creds = auth.oauth_sign_in(auth.Config.load(), open_url=browser, timeout=10)
    assert creds["type"] == "oauth" and creds["refresh_token"]
    assert hubspot.token_calls == ["authorization_code"]
    assert HubSpot().status()["method"] == "oauth"

    store_meeting(action_items=[])
    pushed = run_qylon_here("meeting", "push", MEETING_ID, "--to", "hubspot", "--json")
    assert pushed.code == 0, pushed.stdout
    assert hubspot.token_calls == ["authorization_code", "refresh_token"]
    assert auth.stored()["access_token"] != creds["access_token"]

    # A token HubSpot no longer accepts before it expires (revoked): a 401, one refresh, on.
    hubspot.expires_in = 1800
    auth.access_token(auth.Config.load(), force_refresh=True)
    hubspot.tokens.clear()
    again = run_qylon_here("meeting", "push", MEETING_ID, "--to", "hubspot", "--json")
    assert again.code == 0, again.stdout
    assert hubspot.token_calls[-2:] == ["refresh_token", "refresh_token"]

    # A wrong private-app token is refused, and the OAuth sign-in stays as it was.
    assert connect("pat-wrong").code == 4
    assert HubSpot().status()["method"] == "oauth"


def test_connect_with_oauth_from_the_command_line(hubspot, tmp_path):
    """The real subprocess: `--oauth --no-browser` prints the consent address, which "the
    user" opens; HubSpot's redirect lands on the command's loopback port."""
    import os
    import subprocess
    import sys

    import httpx2

    hubspot.client.update(id="app-123", secret="shh")
    env = {
        **os.environ,
        "QYLON_HUBSPOT_CLIENT_ID": "app-123",
        "QYLON_HUBSPOT_CLIENT_SECRET": "shh",
        "QYLON_HUBSPOT_REDIRECT_PORT": "0",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    command = [sys.executable, "-m", "qylon_cli", "integrations", "connect", "hubspot"]
    proc = subprocess.Popen(
        [*command, "--oauth", "--no-browser", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stderr:
            if line.strip().startswith(f"{env['QYLON_HUBSPOT_AUTH_URL']}?"):
                httpx2.get(line.strip(), follow_redirects=True)
                break
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert '"method": "oauth"' in out and '"account": 4455667' in out
    assert hubspot.token_calls == ["authorization_code"]


def test_without_the_plugin_push_names_the_extra_to_install(tmp_path):
    result = run_qylon("meeting", "push", "--to", "hubspot", "--json")
    assert result.code == 2, result.stdout + result.stderr
    assert "qylon[integrations]" in result.json["error"]["hint"]
    listed = run_qylon_here("integrations", "list", "--json").json["data"]["items"]
    assert listed == [
        {
            "name": name,
            "kinds": [],
            "plugin": None,
            "auth": None,
            "installed": False,
            "connected": False,
            "install": f"pip install 'qylon[integrations]' (or qylon-{name})",
        }
        for name in ("google", "hubspot", "msgraph", "salesforce", "zoom")
    ]


def test_the_follow_up_draft_is_attached_as_its_own_note_and_updated_when_attached_again(hubspot):
    store_meeting()
    assert connect().code == 0
    assert push().code == 0  # the meeting's own note and tasks first

    def attach():
        return run_qylon_here(
            "meeting",
            "follow-up",
            MEETING_ID[:8],
            "--extractor",
            "offline",
            "--attach",
            "hubspot",
            "--email",
            "dana@acme.example",
            "--json",
        )

    first = attach()
    assert first.code == 0, first.stdout + first.stderr
    attached = first.json["data"]["attached"]
    assert attached["target"]["id"] == hubspot.contact
    assert [(i["key"], i["outcome"]) for i in attached["items"]] == [("follow_up", "created")]
    notes = hubspot.linked("notes", "contacts", hubspot.contact)
    assert len(notes) == 2 and len(hubspot.objects["tasks"]) == 3  # no task added
    draft = next(n for n in notes if n["id"] == attached["items"][0]["crm_id"])
    body = draft["properties"]["hs_note_body"]
    assert "<li>" in body and "Send the migration report" in body  # the draft, as HTML
    assert "Move the go-live" in body
    again = attach()
    assert again.json["data"]["attached"]["items"][0]["outcome"] == "updated"
    assert len(hubspot.objects["notes"]) == 2
    meeting_note = push().json["data"]["items"][0]
    assert meeting_note["key"] == "note" and meeting_note["outcome"] == "updated"


@pytest.mark.slow
def test_the_agent_pushes_each_meeting_it_transcribes_when_auto_push_names_the_crm(
    hubspot, monkeypatch, jfk_wav
):
    """agent.auto_push = "hubspot": the agent's transcription queues a crm_push job, which
    puts the note on the company named as the meeting's client; a second analysis pushes
    again and updates the same note."""
    import time

    from qylon_agent.daemon.client import AgentClient
    from qylon_agent.store.database import Store

    monkeypatch.setenv("QYLON_HUBSPOT_TOKEN", TOKEN)
    monkeypatch.setenv("QYLON_AGENT_AUTO_PUSH", "hubspot")
    monkeypatch.setenv("QYLON_AGENT_DETECT_MEETINGS", "false")
    started = run_qylon("agent", "start", "--json")
    assert started.code == 0, started.stderr

    def pushes() -> list[dict]:
        jobs = AgentClient().request("GET", "/v1/jobs?all=1")
        return [j for j in jobs if j["kind"] == "crm_push"]

    def wait_pushed(count: int) -> list[dict]:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            done = [j for j in pushes() if j["status"] not in ("queued", "running")]
            if len(done) >= count:
                return done
            time.sleep(0.3)
        raise AssertionError(f"no crm_push job ended: {pushes()}")

    try:
        made = run_qylon_here(
            "meeting", "transcribe", str(jfk_wav), "--client", "Acme", "--background", "--json"
        )
        assert made.code == 0, made.stdout + made.stderr
        meeting_id = made.json["data"]["id"]
        (job,) = wait_pushed(1)
        assert job["status"] == "done", job
        assert job["payload"] == {"meeting_id": meeting_id, "to": "hubspot"}
        (note,) = hubspot.linked("notes", "companies", hubspot.company)
        assert Store().crm_links(meeting_id, "hubspot")["note"] == note["id"]

        # the agent analyses it again (as `qylon meeting analyze` hands it): pushed again
        body = {"kind": "analyze", "payload": {"meeting_id": meeting_id}}
        AgentClient().request("POST", "/v1/jobs", body)
        assert [j["status"] for j in wait_pushed(2)] == ["done", "done"]
        assert len(hubspot.objects["notes"]) == 1  # updated, not duplicated
    finally:
        run_qylon("agent", "stop")
