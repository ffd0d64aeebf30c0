"""The CRM workflow actions (``hubspot.post_note``, ``hubspot.create_task``,
``salesforce.post_note``, ``salesforce.create_task``) run by the team server's workflow
engine (the in-process harness, SQLite; one engine for the module) against each CRM's
fake: a run that completes leaves a note and a task on the contact; a run whose last step
fails is compensated, and what it created in the CRM is deleted again.

The steps use the organisation's own connection (``PUT /v1/integrations/NAME``, kept
sealed), never the server process's environment or keyring."""

from __future__ import annotations

import uuid

import pytest

from ..conftest import TEST_PLUGINS
from ..server.harness import Api, new_org, running
from ..server.workflow_support import wait_for
from .hubspot_fake import FakeHubSpot
from .loopback import load_plugin
from .salesforce_fake import FakeSalesforce

# one process launches DBOS for the module's tests (parallel runs: one xdist worker)
pytestmark = pytest.mark.xdist_group("workflows")

FOLLOW_UP = """
name: crm-follow-up{suffix}
version: 1
input:
  contact_id: {{type: string, required: true}}
steps:
  - name: note
    action: hubspot.post_note
    with: {{contact_id: "{{{{ input.contact_id }}}}", body: "<p>Scope agreed.</p>"}}
  - name: task
    action: hubspot.create_task
    with:
      contact_id: "{{{{ input.contact_id }}}}"
      subject: Send the proposal
      due: "2026-12-01"
      owner: bob@consult.example
{tail}
"""
BOOM = """  - name: boom
    action: fail
    with: {code: conflict, message: "the last step fails"}
"""


@pytest.fixture(scope="module")
def runner(team_servers):
    backend = team_servers.backend("sqlite")
    with running(backend, workflow_executor=f"crm-{uuid.uuid4().hex[:8]}") as server:
        api = Api(server.url, backend)
        yield api
        api.http.close()


@pytest.fixture
def hubspot(monkeypatch, tmp_path):
    from qylon_cli import plugins

    load_plugin("hubspot", monkeypatch, tmp_path)
    with FakeHubSpot() as fake:
        state = fake.reset()
        state.url = fake.url
        state.tokens.add("pat-flow")
        state.contact = state.add("contacts", {"email": "dana@acme.example"})
        state.bob = state.add_owner("bob@consult.example", "Bob", "Stone")
        monkeypatch.setenv("QYLON_LOAD_PLUGINS", f"{TEST_PLUGINS},hubspot")
        monkeypatch.setenv("QYLON_HUBSPOT_API_BASE", fake.url)
        monkeypatch.setenv("QYLON_HUBSPOT_TOKEN_URL", f"{fake.url}/oauth/v1/token")
        # the server process's own token: an organisation's step must never use it
        monkeypatch.setenv("QYLON_HUBSPOT_TOKEN", "pat-process")
        state.tokens.add("pat-process")
        plugins.reset()
        yield state
    plugins.reset()


def share(api, org, name: str, creds: dict) -> None:
    put = api.put(f"/v1/integrations/{name}", org.token, json={"credentials": creds})
    assert put.status_code == 200, put.text


def start(api, org, text: str, name: str, contact: str) -> dict:
    assert api.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
    started = api.post(
        f"/v1/workflows/{name}/runs", org.token, json={"input": {"contact_id": contact}}
    )
    assert started.status_code == 202, started.text
    return wait_for(api, org.token, started.json()["id"])


def test_hubspot_actions_run_and_are_compensated(runner, team_servers, hubspot):
    org = new_org(team_servers.backend("sqlite"))
    share(runner, org, "hubspot", {"type": "private_app", "access_token": "pat-flow"})
    done = start(
        runner, org, FOLLOW_UP.format(suffix="", tail=""), "crm-follow-up", hubspot.contact
    )
    assert done["status"] == "completed", done
    note_id = done["steps"][0]["output"]["note_id"]
    task = done["steps"][1]["output"]
    assert [n["id"] for n in hubspot.linked("notes", "contacts", hubspot.contact)] == [note_id]
    (made,) = hubspot.linked("tasks", "contacts", hubspot.contact)
    assert made["id"] == task["task_id"] and task["owner_id"] == hubspot.bob
    assert made["properties"]["hs_timestamp"].startswith("2026-12-01")

    failed = start(
        runner,
        org,
        FOLLOW_UP.format(suffix="-boom", tail=BOOM),
        "crm-follow-up-boom",
        hubspot.contact,
    )
    assert failed["status"] == "compensated", failed
    deleted = [p for m, p in hubspot.requests if m == "DELETE"]
    assert len(deleted) == 2  # the second run's note and task, newest first
    assert deleted[0].startswith("/crm/v3/objects/tasks/")
    # what the first run made stays
    assert len(hubspot.objects["notes"]) == 1 and len(hubspot.objects["tasks"]) == 1


def test_a_hubspot_refusal_fails_the_step_with_its_category(runner, team_servers, hubspot):
    org = new_org(team_servers.backend("sqlite"))
    share(runner, org, "hubspot", {"type": "private_app", "access_token": "pat-flow"})
    refused = start(
        runner, org, FOLLOW_UP.format(suffix="-nobody", tail=""), "crm-follow-up-nobody", "999999"
    )
    assert refused["status"] == "failed", refused  # nothing before it to undo
    assert refused["steps"][0]["error"]["code"] == "hubspot_validation_error"
    assert "No contacts with ID 999999" in refused["steps"][0]["error"]["message"]


def _sealed_rows(backend, org_id: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(backend.admin_url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT name, sealed FROM integration_connections WHERE org_id = :o")
            return [f"{name} {sealed}" for name, sealed in conn.execute(query, {"o": org_id})]
    finally:
        engine.dispose()


def test_a_connection_is_sealed_never_returned_and_audited_without_it(
    runner, team_servers, hubspot
):
    backend = team_servers.backend("sqlite")
    org = new_org(backend)
    creds = {"type": "private_app", "access_token": "pat-secret-123"}
    share(runner, org, "hubspot", creds)
    listed = runner.get("/v1/integrations", org.token).json()
    assert [(i["name"], i["kind"]) for i in listed["items"]] == [("hubspot", "private_app")]
    assert "hubspot" in listed["installed"] and "pat-secret-123" not in str(listed)
    (row,) = _sealed_rows(backend, org.id)
    assert row.startswith("hubspot ") and "pat-secret" not in row
    audit = runner.get("/v1/audit-events?limit=50", org.token).json()["items"]
    connects = [e for e in audit if e["action"] == "integration.connect"]
    assert len(connects) == 1 and "pat-secret" not in str(audit)

    # another organisation sees none of it
    other = new_org(backend)
    assert runner.get("/v1/integrations", other.token).json()["items"] == []
    # bad input: named, nothing stored
    unknown = runner.put(
        "/v1/integrations/pipedrive", org.token, json={"credentials": {"access_token": "x"}}
    )
    assert unknown.status_code == 422 and "installed: " in unknown.json()["error"]["message"]
    empty = runner.put("/v1/integrations/hubspot", other.token, json={"credentials": {}})
    assert empty.status_code == 422 and "access_token" in empty.json()["error"]["message"]
    assert _sealed_rows(backend, other.id) == []

    gone = runner.call("DELETE", "/v1/integrations/hubspot", org.token)
    assert gone.status_code == 204
    assert runner.get("/v1/integrations", org.token).json()["items"] == []
    assert runner.call("DELETE", "/v1/integrations/hubspot", org.token).status_code == 404


def test_a_step_never_uses_the_servers_own_credentials(runner, team_servers, hubspot):
    # the server process has a valid token (QYLON_HUBSPOT_TOKEN); the organisation has none
    org = new_org(team_servers.backend("sqlite"))
    refused = start(
        runner,
        org,
        FOLLOW_UP.format(suffix="-bare", tail=""),
        "crm-follow-up-bare",
        hubspot.contact,
    )
    assert refused["status"] == "failed", refused
    error = refused["steps"][0]["error"]
    assert error["code"] == "not_connected"
    assert "qylon integrations share hubspot" in error["message"]
    assert hubspot.objects["notes"] == {} and hubspot.objects["tasks"] == {}


def test_tokens_a_step_refreshes_are_sealed_back_for_the_organisation(
    runner, team_servers, hubspot
):
    import time

    backend = team_servers.backend("sqlite")
    org = new_org(backend)
    hubspot.client.update(id="app-1", secret="app-secret")
    hubspot.refresh_tokens["refresh-1"] = "app-1"
    expired = {
        "type": "oauth",
        "access_token": "expired-token",
        "refresh_token": "refresh-1",
        "expires_at": time.time() - 10,
        "client_id": "app-1",
        "client_secret": "app-secret",
    }
    share(runner, org, "hubspot", expired)
    done = start(
        runner,
        org,
        FOLLOW_UP.format(suffix="-oauth", tail=""),
        "crm-follow-up-oauth",
        hubspot.contact,
    )
    assert done["status"] == "completed", done
    assert hubspot.token_calls == ["refresh_token"]  # once, then the new token is kept
    (item,) = runner.get("/v1/integrations", org.token).json()["items"]
    assert item["refreshed_at"] is not None
    (fresh,) = [t for t in hubspot.tokens if t not in {"pat-process", "pat-flow"}]
    (row,) = _sealed_rows(backend, org.id)
    assert fresh not in row and "refresh-1" not in row and "app-secret" not in row

    again = start(
        runner,
        org,
        FOLLOW_UP.format(suffix="-oauth2", tail=""),
        "crm-follow-up-oauth2",
        hubspot.contact,
    )
    assert again["status"] == "completed", again
    assert hubspot.token_calls == ["refresh_token"]  # the sealed-back token was used


def test_share_shared_and_unshare_from_the_command_line(
    runner, team_servers, hubspot, qylon_home, monkeypatch
):
    from ..conftest import credentials, run_qylon_here

    org = new_org(team_servers.backend("sqlite"))
    env = credentials(str(runner.http.base_url).rstrip("/"), org.token)
    monkeypatch.setenv("QYLON_LOAD_PLUGINS", f"{TEST_PLUGINS},hubspot")
    monkeypatch.setenv("QYLON_HUBSPOT_API_BASE", hubspot.url)
    monkeypatch.delenv("QYLON_HUBSPOT_TOKEN", raising=False)  # this machine: not connected
    nothing = run_qylon_here("integrations", "share", "hubspot", "--json", env=env)
    assert nothing.code != 0 and "nothing to share" in nothing.json["error"]["message"]

    hubspot.tokens.add("pat-laptop")  # now connected, with a private-app token
    monkeypatch.setenv("QYLON_HUBSPOT_TOKEN", "pat-laptop")
    shared = run_qylon_here("integrations", "share", "hubspot", "--json", env=env)
    assert shared.code == 0, shared.stdout + shared.stderr
    assert shared.json["data"]["kind"] == "private_app" and "pat-laptop" not in shared.stdout
    listed = run_qylon_here("integrations", "shared", "--json", env=env)
    assert [i["name"] for i in listed.json["data"]["items"]] == ["hubspot"]
    monkeypatch.setenv("QYLON_HUBSPOT_TOKEN", "pat-process")  # the server's again
    done = start(
        runner, org, FOLLOW_UP.format(suffix="-cli", tail=""), "crm-follow-up-cli", hubspot.contact
    )
    assert done["status"] == "completed", done

    gone = run_qylon_here("integrations", "unshare", "hubspot", "--json", env=env)
    assert gone.code == 0, gone.stdout + gone.stderr
    assert run_qylon_here("integrations", "shared", "--json", env=env).json["data"]["items"] == []


SALESFORCE = """
name: sf-follow-up{suffix}
version: 1
input:
  record_id: {{type: string, required: true}}
steps:
  - name: note
    action: salesforce.post_note
    with: {{record_id: "{{{{ input.record_id }}}}", title: Weekly sync, body: "<p>Scope agreed.</p>"}}
  - name: task
    action: salesforce.create_task
    with:
      record_id: "{{{{ input.record_id }}}}"
      subject: Send the proposal
      due: "2026-12-01"
      owner: bob@consult.example
{tail}
"""


def test_salesforce_actions_run_and_are_compensated(runner, team_servers, monkeypatch, tmp_path):
    from qylon_cli import plugins

    load_plugin("salesforce", monkeypatch, tmp_path)
    org = new_org(team_servers.backend("sqlite"))
    with FakeSalesforce() as fake:
        state = fake.reset()
        state.tokens.add("00Dflow!token")
        contact = state.add("Contact", LastName="Lee", Email="dana@acme.example")
        bob = state.add("User", FirstName="Bob", LastName="Stone", Email="bob@consult.example")
        monkeypatch.setenv("QYLON_LOAD_PLUGINS", f"{TEST_PLUGINS},salesforce")
        plugins.reset()
        try:
            creds = {"type": "token", "access_token": "00Dflow!token", "instance_url": fake.url}
            share(runner, org, "salesforce", creds)
            text = SALESFORCE.format(suffix="", tail="")
            assert runner.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
            started = runner.post(
                "/v1/workflows/sf-follow-up/runs", org.token, json={"input": {"record_id": contact}}
            )
            done = wait_for(runner, org.token, started.json()["id"])
            assert done["status"] == "completed", done
            (task,) = state.records["Task"].values()
            assert task["WhoId"] == contact and task["OwnerId"] == bob
            assert task["ActivityDate"] == "2026-12-01"
            (link,) = state.records["ContentDocumentLink"].values()
            assert link["LinkedEntityId"] == contact
            assert link["ContentDocumentId"] == done["steps"][0]["output"]["note_id"]

            text = SALESFORCE.format(suffix="-boom", tail=BOOM)
            assert runner.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
            started = runner.post(
                "/v1/workflows/sf-follow-up-boom/runs",
                org.token,
                json={"input": {"record_id": contact}},
            )
            failed = wait_for(runner, org.token, started.json()["id"])
            assert failed["status"] == "compensated", failed
            assert [p.rsplit("/", 2)[1] for m, p in state.requests if m == "DELETE"] == [
                "Task",
                "ContentNote",
            ]
            assert len(state.records["Task"]) == 1 and len(state.records["ContentNote"]) == 1
            assert len(state.records["ContentDocumentLink"]) == 1  # the first run's, kept
        finally:
            plugins.reset()
