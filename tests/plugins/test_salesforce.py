"""The Salesforce integration end to end: `qylon integrations connect salesforce --device`
(and the PKCE loopback sign-in), and `qylon meeting push ID --to salesforce`, against a
stateful Salesforce fake on loopback (tests/plugins/salesforce_fake.py), the plugin loaded
through its entry point. Commands run in-process (``run_qylon_here``); the fake is shared
by the module and reset for each test.
"""

from __future__ import annotations

import base64
import threading
from datetime import UTC, date, datetime

import pytest

from ..conftest import TEST_PLUGINS, run_qylon_here
from .loopback import drop_action_item, load_plugin
from .salesforce_fake import FakeSalesforce

MEETING_ID = "5c6b0000-0000-4000-8000-0000000000b2"
CLIENT_ID = "3MVG9-qylon-test"


@pytest.fixture(scope="module")
def fake():
    with FakeSalesforce() as server:
        yield server


@pytest.fixture
def salesforce(fake, qylon_home, monkeypatch, tmp_path):
    """A fresh fake Salesforce (an account, two contacts, three users besides the API user)
    and the plugin loaded, pointed at it through the settings' environment variables."""
    load_plugin("salesforce", monkeypatch, tmp_path)
    state = fake.reset()
    state.client["id"] = CLIENT_ID
    state.account = state.add("Account", Name="Acme", Website="https://www.acme.example")
    state.contact = state.add(
        "Contact",
        FirstName="Dana",
        LastName="Lee",
        Email="Dana@Acme.example",
        AccountId=state.account,
    )
    state.add("Contact", FirstName="Sam", Email="sam@other.example")
    state.bob = state.add("User", FirstName="Bob", LastName="Stone", Email="bob@consult.example")
    state.carol = state.add(
        "User", FirstName="Carol", LastName="Vance", Email="carol@consult.example"
    )
    state.add(
        "User", FirstName="Eve", LastName="Marsh", Email="eve@consult.example", IsActive=False
    )
    for key, value in {
        "LOAD_PLUGINS": f"{TEST_PLUGINS},salesforce",
        "SALESFORCE_LOGIN_URL": fake.url,
        "SALESFORCE_CLIENT_ID": CLIENT_ID,
        "SALESFORCE_MAX_RETRIES": "3",
        "SALESFORCE_REDIRECT_PORT": "0",
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
            ActionItem(id="a3", owner="Eve", task="Schedule the training session", status="done"),
        ],
    )
    store = Store()
    store.save_meeting(meeting.model_copy(update=changes))
    store.close()


def connect_device():
    return run_qylon_here("integrations", "connect", "salesforce", "--device", "--json")


def signed_in(fake) -> None:
    """Kept credentials without a sign-in (the sign-ins have their own tests)."""
    from qylon_salesforce import auth

    fake.state.tokens.add("00DQy!kept")
    auth.save({"type": "device", "access_token": "00DQy!kept", "instance_url": fake.url})


def push(*extra: str):
    return run_qylon_here(
        "meeting",
        "push",
        MEETING_ID[:8],
        "--to",
        "salesforce",
        "--email",
        "dana@acme.example",
        "--json",
        *extra,
    )


def test_device_flow_connect(salesforce, fake):
    connected = connect_device()
    assert connected.code == 0, connected.stdout + connected.stderr
    assert "enter the code" in connected.stderr
    assert connected.json["data"]["method"] == "device"
    assert connected.json["data"]["instance_url"] == fake.url
    assert salesforce.token_calls == ["device_code", "device", "device", "device"]
    status = run_qylon_here("integrations", "status", "salesforce", "--json").json["data"]
    assert status["connected"] and status["refreshable"] and status["source"] == "keyring"


def test_device_flow_slows_down_when_told(salesforce):
    from qylon_salesforce import auth

    salesforce.slow_downs = 1
    shown, waits = [], []
    creds = auth.device_sign_in(auth.Config.load(), show=shown.append, sleep=waits.append)
    assert creds["type"] == "device" and shown[0]["user_code"]
    assert waits == [0.0, 5.0, 5.0]  # the interval given, then 5 s more after slow_down


def test_push_a_note_and_tasks_and_repush_through_the_limit(salesforce, fake):
    store_meeting()
    signed_in(fake)
    first = push()
    assert first.code == 0, first.stdout + first.stderr
    data = first.json["data"]
    assert data["target"] == {"type": "contact", "id": salesforce.contact, "name": "Dana Lee"}
    assert [i["outcome"] for i in data["items"]] == ["created"] * 4
    ((note_id, note),) = salesforce.records["ContentNote"].items()
    html = base64.b64decode(note["Content"]).decode()
    assert "Migration done" in html and "Move the go-live" in html
    assert note["Title"] == "Weekly sync with Acme (2026-11-25)"
    links = {
        (l["ContentDocumentId"], l["LinkedEntityId"])
        for l in salesforce.records["ContentDocumentLink"].values()
    }
    assert links == {(note_id, salesforce.contact), (note_id, salesforce.account)}
    tasks = {t["Subject"]: t for t in salesforce.records["Task"].values()}
    assert len(tasks) == 3
    report = tasks["Send the migration report"]
    assert report["OwnerId"] == salesforce.bob and report["ActivityDate"] == "2026-11-27"
    assert report["WhoId"] == salesforce.contact and report["WhatId"] == salesforce.account
    assert tasks["Update the project plan"]["OwnerId"] == salesforce.carol
    assert tasks["Update the project plan"]["ActivityDate"] == "2026-11-25"  # the meeting's day
    training = tasks["Schedule the training session"]
    assert (
        training["Status"] == "Completed" and training["OwnerId"] == salesforce.me
    )  # Eve is inactive
    assert any("'Eve'" in w for w in data["warnings"])

    # Again, with the org's concurrent-request limit hit in the middle: waited out, nothing duplicated.
    salesforce.throttle(after=3, times=1, kind="concurrent")  # no Retry-After: 0.5 s
    second = push()
    assert second.code == 0, second.stdout + second.stderr
    assert [i["outcome"] for i in second.json["data"]["items"]] == ["updated"] * 4
    assert salesforce.throttled == 1
    assert any(
        "request limit: waited 1 time(s), 0.5 s" in w for w in second.json["data"]["warnings"]
    )
    assert len(salesforce.records["Task"]) == 3 and len(salesforce.records["ContentNote"]) == 1
    assert len(salesforce.records["ContentDocumentLink"]) == 2
    assert {i["crm_id"] for i in second.json["data"]["items"]} == {
        i["crm_id"] for i in data["items"]
    }

    # An action item deleted in Qylon: its task goes from Salesforce at the next push, once.
    drop_action_item(MEETING_ID, "a3")
    third = push()
    assert third.code == 0, third.stdout + third.stderr
    outcomes = [(i["key"], i["outcome"]) for i in third.json["data"]["items"]]
    assert outcomes[-1] == ("task:a3", "deleted") and len(salesforce.records["Task"]) == 2
    assert [i["outcome"] for i in push().json["data"]["items"]] == ["updated"] * 3


def test_a_429_is_waited_out_and_the_daily_limit_fails_at_once(salesforce, fake):
    store_meeting(action_items=[])
    signed_in(fake)
    # A 429 with Retry-After is waited out too; the daily limit is not worth waiting for.
    salesforce.throttle(after=1, times=1, kind="429")
    waited = push()
    assert waited.code == 0, waited.stdout
    assert any("waited 1 time(s), 0.1 s" in w for w in waited.json["data"]["warnings"])
    salesforce.throttle(after=0, times=1, kind="daily")
    daily = push()
    assert daily.code == 6 and daily.json["error"]["code"] == "salesforce_request_limit_exceeded"
    assert "TotalRequests" in daily.json["error"]["message"]


def test_a_refused_task_exits_7_and_the_next_push_creates_only_it(salesforce, fake):
    store_meeting()
    signed_in(fake)
    salesforce.refused_subjects.add("Update the project plan")
    partial = push()
    assert partial.code == 7, partial.stdout + partial.stderr
    err = partial.json["error"]
    outcomes = {i["key"]: i["outcome"] for i in err["push"]["items"]}
    assert outcomes == {
        "note": "created",
        "task:a1": "created",
        "task:a2": "failed",
        "task:a3": "created",
    }
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" not in err["message"]
    assert "The subject is not allowed here." in err["message"]

    salesforce.refused_subjects.clear()
    again = push()
    assert again.code == 0, again.stdout
    outcomes = {i["key"]: i["outcome"] for i in again.json["data"]["items"]}
    assert outcomes == {
        "note": "updated",
        "task:a1": "updated",
        "task:a2": "created",
        "task:a3": "updated",
    }
    assert len(salesforce.records["Task"]) == 3


def test_the_account_named_as_client_and_a_record_deleted_in_salesforce(salesforce, fake):
    store_meeting(action_items=[ActionItemLike("a1", "Send the report")])
    signed_in(fake)
    pushed = run_qylon_here("meeting", "push", MEETING_ID, "--to", "salesforce", "--json")
    assert pushed.code == 0, pushed.stdout
    assert pushed.json["data"]["target"] == {
        "type": "account",
        "id": salesforce.account,
        "name": "Acme",
    }
    (task,) = salesforce.records["Task"].values()
    assert task["WhatId"] == salesforce.account and "WhoId" not in task

    salesforce.records["Task"].clear()  # deleted in Salesforce: made again
    again = run_qylon_here("meeting", "push", MEETING_ID, "--to", "salesforce", "--json")
    assert [i["outcome"] for i in again.json["data"]["items"]] == ["updated", "created"]
    assert len(salesforce.records["Task"]) == 1

    store_meeting(client="Nobody's Ltd", action_items=[])  # a quote in SOQL, escaped
    missing = run_qylon_here("meeting", "push", MEETING_ID, "--to", "salesforce", "--json")
    assert missing.code == 5 and missing.json["error"]["code"] == "not_found"


def ActionItemLike(key: str, task: str):
    from qylon_cli.schemas import ActionItem

    return ActionItem(id=key, task=task)


def test_oauth_pkce_loopback_sign_in_then_a_refresh_on_401(salesforce, fake, monkeypatch):
    import httpx2
    from qylon_salesforce import auth

    salesforce.client["secret"] = "shh"
    monkeypatch.setenv("QYLON_SALESFORCE_CLIENT_SECRET", "shh")

    def browser(url: str) -> None:  # the user approves: Salesforce redirects to the loopback port
        threading.Thread(target=httpx2.get, args=(url,), kwargs={"follow_redirects": True}).start()

    creds = auth.oauth_sign_in(auth.Config.load(), open_url=browser, timeout=10)
    assert creds["type"] == "oauth" and creds["refresh_token"] and creds["instance_url"] == fake.url
    assert salesforce.token_calls == ["authorization_code"]

    status = run_qylon_here("integrations", "status", "salesforce", "--json").json["data"]
    assert status["connected"] and status["method"] == "oauth" and status["refreshable"]

    salesforce.tokens.clear()  # the session expired: one refresh, and on
    store_meeting(action_items=[])
    pushed = run_qylon_here("meeting", "push", MEETING_ID, "--to", "salesforce", "--json")
    assert pushed.code == 0, pushed.stdout
    assert salesforce.token_calls == ["authorization_code", "refresh_token"]
    kept = auth.stored()
    assert kept["access_token"] != creds["access_token"]
    assert kept["refresh_token"] == creds["refresh_token"]  # Salesforce keeps the refresh token

    gone = run_qylon_here("integrations", "disconnect", "salesforce", "--json")
    assert gone.json["data"] == {"name": "salesforce", "disconnected": True}
    not_yet = run_qylon_here("meeting", "push", MEETING_ID, "--to", "salesforce", "--json")
    assert not_yet.code == 4 and "--device" in not_yet.json["error"]["hint"]


def test_a_token_from_the_environment_and_a_refused_sign_in(salesforce, fake, monkeypatch):
    pasted = run_qylon_here("integrations", "connect", "salesforce", "--token-stdin", "--json")
    assert pasted.code == 2 and "--device" in pasted.json["error"]["hint"]
    monkeypatch.setenv("QYLON_SALESFORCE_CLIENT_ID", "someone-else")
    refused = connect_device()
    assert refused.code == 4 and "client identifier invalid" in refused.json["error"]["message"]

    salesforce.tokens.add("00Denv!token")
    monkeypatch.setenv("QYLON_SALESFORCE_TOKEN", "00Denv!token")
    monkeypatch.setenv("QYLON_SALESFORCE_INSTANCE_URL", fake.url)
    store_meeting(action_items=[])
    pushed = run_qylon_here("meeting", "push", MEETING_ID, "--to", "salesforce", "--json")
    assert pushed.code == 0, pushed.stdout
    status = run_qylon_here("integrations", "status", "salesforce", "--json").json["data"]
    assert status["source"] == "env QYLON_SALESFORCE_TOKEN"


def test_the_follow_up_draft_is_attached_as_a_second_content_note(salesforce, fake):
    store_meeting()
    signed_in(fake)
    got = run_qylon_here(
        "meeting",
        "follow-up",
        MEETING_ID[:8],
        "--extractor",
        "offline",
        "--attach",
        "salesforce",
        "--email",
        "dana@acme.example",
        "--json",
    )
    assert got.code == 0, got.stdout + got.stderr
    item = got.json["data"]["attached"]["items"][0]
    assert (item["key"], item["outcome"]) == ("follow_up", "created")
    note = salesforce.records["ContentNote"][item["crm_id"]]
    html = base64.b64decode(note["Content"]).decode()
    assert "Send the migration report" in html and "<li>" in html
    assert note["Title"].startswith(got.json["data"]["subject"])
    assert not salesforce.records.get("Task")  # the draft only: no tasks
    missing = run_qylon_here(
        "meeting", "follow-up", MEETING_ID[:8], "--attach", "pipedrive", "--json"
    )
    assert missing.code == 2
