"""Qylon's test plugin: one implementation of every hook, and the example in docs/plugins.md.

Everything is named as a "module:attr" string, so loading this plugin imports nothing
but this module: `qylon --help` stays fast however many plugins are installed.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    register("qylon_sample.cli:app", name="sample", help="The test plugin's commands.")


@hookimpl
def register_providers(register):
    register(kind="crm", name="sample", factory="qylon_sample.providers:SampleCrm", auth="api_key")


@hookimpl
def register_actions(register):
    register(
        "sample.create_note",
        "qylon_sample.actions:create_note",
        input="qylon_sample.actions:NoteInput",
        compensate="qylon_sample.actions:delete_note",
    )
    register("sample.slow", "qylon_sample.actions:slow", input="qylon_sample.actions:SlowInput")


@hookimpl
def register_workflows(register):
    register("sample.follow_up", "qylon_sample:workflows/follow_up.yaml")


@hookimpl
def register_settings(register):
    register("sample", {"portal_id": int, "region": "eu", "sandbox": False}, help="The sample CRM.")


@hookimpl
def register_routers(register):
    register("qylon_sample.api:router")
