"""The CRM workflow actions (``hubspot.post_note``, ``hubspot.create_task``,
``salesforce.post_note``, ``salesforce.create_task``) run by the team server's workflow
engine (the in-process harness, SQLite; one engine for the module) against each CRM's
fake: a run that completes leaves a note and a task on the contact; a run whose last step
fails is compensated, and what it created in the CRM is deleted again."""

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
        state.tokens.add("pat-flow")
        state.contact = state.add("contacts", {"email": "dana@acme.example"})
        state.bob = state.add_owner("bob@consult.example", "Bob", "Stone")
        monkeypatch.setenv("QYLON_LOAD_PLUGINS", f"{TEST_PLUGINS},hubspot")
        monkeypatch.setenv("QYLON_HUBSPOT_API_BASE", fake.url)
        monkeypatch.setenv("QYLON_HUBSPOT_TOKEN", "pat-flow")
        plugins.reset()
        yield state
    plugins.reset()


def start(api, org, text: str, name: str, contact: str) -> dict:
    assert api.post("/v1/workflows", org.token, json={"text": text}).status_code == 201
    started = api.post(
        f"/v1/workflows/{name}/runs", org.token, json={"input": {"contact_id": contact}}
    )
    assert started.status_code == 202, started.text
    return wait_for(api, org.token, started.json()["id"])


def test_hubspot_actions_run_and_are_compensated(runner, team_servers, hubspot):
    org = new_org(team_servers.backend("sqlite"))
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
    refused = start(
        runner, org, FOLLOW_UP.format(suffix="-nobody", tail=""), "crm-follow-up-nobody", "999999"
    )
    assert refused["status"] == "failed", refused  # nothing before it to undo
    assert refused["steps"][0]["error"]["code"] == "hubspot_validation_error"
    assert "No contacts with ID 999999" in refused["steps"][0]["error"]["message"]


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
        monkeypatch.setenv("QYLON_SALESFORCE_TOKEN", "00Dflow!token")
        monkeypatch.setenv("QYLON_SALESFORCE_INSTANCE_URL", fake.url)
        plugins.reset()
        try:
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
