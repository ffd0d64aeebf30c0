"""`qylon clients sync --from salesforce|hubspot`: the team server's client list (a real
server on loopback, SQLite) filled from each CRM's fake, page after page; idempotent; a
rename in the CRM renames the client; a name conflict is reported item by item (exit 7)."""

from __future__ import annotations

import pytest

from ..conftest import TEST_PLUGINS, run_qylon_here
from .hubspot_fake import FakeHubSpot
from .loopback import load_plugin
from .salesforce_fake import FakeSalesforce
from .test_salesforce import CLIENT_ID


@pytest.fixture
def backend(team_servers):
    """The CLI's side does not depend on the server's engine: SQLite only."""
    return team_servers.backend("sqlite")


@pytest.fixture(scope="module")
def fakes():
    with FakeSalesforce() as sf, FakeHubSpot() as hs:
        yield sf, hs


def qylon(*args, env):
    return run_qylon_here("clients", *args, "--json", env=env)


def names(env) -> dict[str, dict]:
    listed = qylon("list", "--all", "--limit", "200", env=env).json["data"]["items"]
    return {c["name"]: c for c in listed}


def test_sync_from_salesforce_pages_adopts_renames_and_changes_nothing_twice(
    fakes, signed_in, qylon_home, monkeypatch, tmp_path
):
    fake, _ = fakes
    load_plugin("salesforce", monkeypatch, tmp_path)
    from qylon_salesforce import auth

    state = fake.reset()
    state.client["id"] = CLIENT_ID
    state.batch = 2  # five accounts: three pages through nextRecordsUrl
    acme = state.add("Account", Name="Acme", Website="https://www.acme.example/")
    for name in ("Globex", "Initech", "Umbrella", "Hooli"):
        state.add("Account", Name=name)
    state.tokens.add("00DQy!kept")
    monkeypatch.setenv("QYLON_LOAD_PLUGINS", f"{TEST_PLUGINS},salesforce")
    monkeypatch.setenv("QYLON_SALESFORCE_LOGIN_URL", fake.url)
    auth.save({"type": "device", "access_token": "00DQy!kept", "instance_url": fake.url})
    globex = qylon("add", "globex", "--tag", "manufacturing", env=signed_in).json["data"]

    first = run_qylon_here("clients", "sync", "--from", "salesforce", "--json", env=signed_in)
    assert first.code == 0, first.stdout + first.stderr
    outcomes = {i["name"]: i["outcome"] for i in first.json["data"]["items"]}
    assert outcomes == {
        "Acme": "created",
        "Globex": "linked",
        "Initech": "created",
        "Umbrella": "created",
        "Hooli": "created",
    }
    assert sum(1 for _, path in state.requests if "/query/01g" in path) == 2
    clients = names(signed_in)
    assert clients["Acme"]["domain"] == "acme.example"
    assert clients["Acme"]["tags"] == [f"salesforce:{acme}"]
    assert clients["Globex"]["id"] == globex["id"]  # adopted, renamed to the CRM's spelling
    assert clients["Globex"]["tags"][0] == "manufacturing"

    again = run_qylon_here("clients", "sync", "--from", "salesforce", "--json", env=signed_in)
    assert {i["outcome"] for i in again.json["data"]["items"]} == {"unchanged"}  # no write sent

    state.records["Account"][acme]["Name"] = "Acme Group"
    renamed = run_qylon_here("clients", "sync", "--from", "salesforce", "--json", env=signed_in)
    assert [i["outcome"] for i in renamed.json["data"]["items"]].count("updated") == 1
    after = names(signed_in)
    assert "Acme" not in after and after["Acme Group"]["id"] == clients["Acme"]["id"]


def test_sync_from_hubspot_pages_and_reports_a_name_conflict(
    fakes, signed_in, qylon_home, monkeypatch, tmp_path
):
    _, fake = fakes
    load_plugin("hubspot", monkeypatch, tmp_path)
    state = fake.reset()
    state.page_size = 2
    state.tokens.add("pat-sync")
    ids = [
        state.add("companies", {"name": n, "domain": f"{n.lower()}.example"})
        for n in ("Acme", "Globex", "Initech")
    ]
    state.add("contacts", {"email": "x@acme.example"})  # not a company: not synced
    monkeypatch.setenv("QYLON_LOAD_PLUGINS", f"{TEST_PLUGINS},hubspot")
    monkeypatch.setenv("QYLON_HUBSPOT_API_BASE", fake.url)
    monkeypatch.setenv("QYLON_HUBSPOT_TOKEN", "pat-sync")

    first = run_qylon_here("clients", "sync", "--from", "hubspot", "--json", env=signed_in)
    assert first.code == 0, first.stdout + first.stderr
    assert [i["outcome"] for i in first.json["data"]["items"]] == ["created"] * 3
    assert sum(1 for m, p in state.requests if p == "/crm/v3/objects/companies") == 2
    assert names(signed_in)["Globex"]["tags"] == [f"hubspot:{ids[1]}"]
    again = run_qylon_here("clients", "sync", "--from", "hubspot", "--json", env=signed_in)
    assert {i["outcome"] for i in again.json["data"]["items"]} == {"unchanged"}

    qylon("add", "Umbrella", env=signed_in)
    state.objects["companies"][ids[0]]["properties"]["name"] = "Acme Ltd"
    state.objects["companies"][ids[2]]["properties"]["name"] = "Umbrella"  # taken by another client
    partial = run_qylon_here("clients", "sync", "--from", "hubspot", "--json", env=signed_in)
    assert partial.code == 7, partial.stdout + partial.stderr
    outcomes = {i["crm_id"]: i["outcome"] for i in partial.json["error"]["sync"]["items"]}
    assert outcomes == {ids[0]: "updated", ids[1]: "unchanged", ids[2]: "failed"}
    assert "Umbrella" in partial.json["error"]["message"]


def test_without_the_plugin_sync_names_the_extra_to_install():
    result = run_qylon_here("clients", "sync", "--from", "salesforce", "--json")
    assert result.code == 2, result.stdout + result.stderr
    assert "qylon-salesforce" in result.json["error"]["hint"]
