"""A plugin that takes names the sample plugin already registers."""

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    register("qylon_sample.cli:app", name="sample")


@hookimpl
def register_actions(register):
    register("sample.create_note", "qylon_sample.actions:create_note")
