"""The plugin seams: every hook through the test plugin (tests/plugins/sample, found as a
real entry point through its dist-info), broken and clashing plugins, default plugins.

The commands run the real subprocess, which finds the plugins through PYTHONPATH, except in
test_a_plugin_settings_section_can_be_set_and_is_validated: its ten commands run in-process
(``run_qylon_here``: the same entry point, environment, streams and exit codes), with the
sample plugin's folder on this process's sys.path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..conftest import TEST_PLUGINS, run_qylon_here

HERE = Path(__file__).parent
SAMPLE, BROKEN, CLASH = HERE / "sample", HERE / "broken", HERE / "clash"


def plugin_env(*dirs: Path, load: str) -> dict:
    """Environment for a `qylon` subprocess that finds the plugins in ``dirs``."""
    return {
        "PYTHONPATH": os.pathsep.join(str(d) for d in dirs),
        "QYLON_LOAD_PLUGINS": f"{TEST_PLUGINS},{load}",
    }


@pytest.fixture
def sample(monkeypatch):
    """The test plugin loaded in this process, through its entry point."""
    from qylon_cli import plugins

    monkeypatch.syspath_prepend(str(SAMPLE))
    monkeypatch.setenv("QYLON_LOAD_PLUGINS", f"{TEST_PLUGINS},sample")
    plugins.reset()
    yield plugins
    plugins.reset()


def test_the_sample_plugin_loads_from_its_entry_point_and_adds_a_command(qylon):
    env = plugin_env(SAMPLE, load="sample")
    rows = {r["name"]: r for r in qylon("plugins", "list", "--json", env=env).json["data"]["items"]}
    assert rows["sample"]["package"] == "qylon-sample" and rows["sample"]["error"] is None
    assert rows["sample"]["hooks"] == [
        "register_actions",
        "register_commands",
        "register_providers",
        "register_routers",
        "register_settings",
        "register_workflows",
    ]
    assert {"core", "admin", "agent", "server"} <= set(rows)
    hello = qylon("sample", "hello", "--name", "Ada", "--json", env=env)
    assert hello.code == 0 and hello.json["data"]["hello"] == "Ada"
    assert "sample" in qylon("--help", env=env).stdout


def test_without_the_switch_naming_it_a_plugin_does_not_load(qylon):
    result = qylon(
        "sample", "hello", env={"PYTHONPATH": str(SAMPLE)}
    )  # QYLON_LOAD_PLUGINS=agent,server
    assert result.code == 2 and "No such command" in result.stderr


def test_a_broken_or_missing_plugin_is_listed_and_does_not_take_down_the_rest(qylon):
    env = plugin_env(BROKEN, SAMPLE, load="broken,missing,sample")
    assert qylon("--help", env=env).code == 0
    rows = {r["name"]: r for r in qylon("plugins", "list", "--json", env=env).json["data"]["items"]}
    assert rows["broken"]["error"] == "RuntimeError: this plugin is broken on purpose"
    assert rows["broken"]["package"] == "qylon-broken" and rows["broken"]["hooks"] == []
    assert "No module named 'qylon_not_installed_anywhere'" in rows["missing"]["error"]
    assert rows["sample"]["error"] is None and rows["agent"]["error"] is None
    human = qylon("plugins", "list", env=env).stdout
    assert "failed: RuntimeError" in human
    assert qylon("sample", "hello", "--json", env=env).code == 0


def test_two_plugins_claiming_one_command_fail_loudly_naming_both(qylon):
    result = qylon("plugins", "list", "--json", env=plugin_env(SAMPLE, CLASH, load="sample,clash"))
    assert result.code == 1
    error = result.json["error"]
    assert error["code"] == "plugin_conflict"
    assert (
        "'sample'" in error["message"]
        and "'clash'" in error["message"]
        and "command" in error["message"]
    )


def test_two_plugins_claiming_one_action_fail_loudly(sample, monkeypatch):
    monkeypatch.syspath_prepend(str(CLASH))
    monkeypatch.setenv("QYLON_LOAD_PLUGINS", "sample,clash")
    sample.reset()
    with pytest.raises(
        sample.PluginConflict, match="'sample.create_note' is registered by two plugins"
    ):
        sample.actions()


def test_own_command_groups_are_default_plugins_and_always_load(qylon):
    rows = {
        r["name"]: r
        for r in qylon("plugins", "list", "--json", env={"QYLON_LOAD_PLUGINS": ""}).json["data"][
            "items"
        ]
    }
    assert set(rows) == {"core"}
    assert rows["core"]["package"] == "qylon"
    help_text = qylon("--help", env={"QYLON_LOAD_PLUGINS": ""}).stdout
    for group in ("auth", "clients", "config", "plugins"):
        assert f" {group} " in help_text
    assert "needs qylon[admin]" in help_text  # users: a part that is not loaded


def test_providers_are_found_by_kind_and_name_and_meet_their_protocol(sample):
    from qylon_cli.errors import NotFound
    from qylon_cli.providers import PROTOCOLS, Note

    entry = sample.providers()["crm:sample"]
    assert entry.plugin == "sample" and entry.options["auth"] == "api_key"
    crm = sample.provider("crm", "sample")
    assert isinstance(crm, PROTOCOLS["crm"])
    assert [c.name for c in crm.find_contacts("ada")] == ["Ada Lovelace"]
    assert crm.create_note(Note(contact_id="c1", body="Thanks")).id == "n1"
    with pytest.raises(NotFound, match="No video provider named 'zoom'"):
        sample.provider("video", "zoom")


def test_an_unknown_provider_kind_is_refused(sample):
    from qylon_cli.plugins import PluginError, _provider

    with pytest.raises(PluginError, match="unknown kind 'fax'"):
        _provider("p", kind="fax", name="x", factory="m:C")


def test_actions_resolve_their_function_input_model_and_compensation(sample):
    entry = sample.actions()["sample.create_note"]
    run, model, undo = (
        sample.resolve(x)
        for x in (entry.target, entry.options["input"], entry.options["compensate"])
    )
    data = model(contact_id="c1", body="hi")
    assert sample.wants_context(run) and not sample.wants_context(undo)
    result = run(data, context=sample.StepContext("org-1", "run-1", "note"))
    assert result == {"note_id": "note-for-c1", "body": "hi", "idempotency_key": "run-1.note"}
    undo(data, result)
    assert result["deleted"] is True


def test_a_plugin_ships_workflow_definitions(sample):
    from qylon_cli import workflow_defs

    workflow = workflow_defs.load(sample.workflow_text("sample.follow_up"), "follow_up.yaml")
    assert workflow.name == "sample.follow_up"
    assert workflow.steps[0].action in sample.actions()


def test_a_plugin_settings_section_can_be_set_and_is_validated(monkeypatch):
    qylon = run_qylon_here  # in-process: the plugin is found on sys.path, not PYTHONPATH
    monkeypatch.syspath_prepend(str(SAMPLE))
    env = plugin_env(SAMPLE, load="sample")
    assert qylon("config", "set", "sample.portal_id", "42", "--json", env=env).code == 0
    assert qylon("config", "get", "sample.portal_id", "--json", env=env).json["data"]["value"] == 42
    assert qylon("sample", "hello", "--json", env=env).json["data"]["portal_id"] == 42
    assert qylon("config", "get", "sample.region", "--json", env=env).json["data"]["value"] == "eu"
    shown = qylon("config", "show", "--json", env=env).json["data"]["items"]
    assert {"key": "sample.region", "value": "eu", "source": "default"} in shown
    assert {"key": "sample.portal_id", "value": 42, "source": "config"} in shown
    bad = qylon("config", "set", "sample.portal_id", "abc", "--json", env=env)
    assert bad.code == 3 and "whole number" in bad.json["error"]["message"]
    assert qylon("config", "set", "sample.sandbox", "maybe", env=env).code == 3
    assert (
        qylon("config", "set", "sample.nope", "1", env=env).code == 3
    )  # unknown keys are still refused
    assert (
        qylon("config", "set", "sample.region", "us", env={}).code == 3
    )  # without the plugin: unknown
    assert qylon("config", "unset", "sample.portal_id", env=env).code == 0
    shown = qylon("config", "show", "--json", env=env).json["data"]["items"]
    assert {"key": "sample.portal_id", "value": None, "source": "unset"} in shown


def test_the_server_mounts_plugin_routers_after_its_own(sample, team_servers):
    import httpx2

    from ..server import harness

    with harness.running(team_servers.backend("sqlite")) as server:
        answer = httpx2.get(f"{server.url}/v1/sample/ping")
    assert answer.status_code == 200 and answer.json() == {"pong": True}
