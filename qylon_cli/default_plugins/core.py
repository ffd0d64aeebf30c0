"""The host's own command groups: auth, clients, config, plugins, integrations."""

from __future__ import annotations

from ..plugins import hookimpl


@hookimpl(tryfirst=True)
def register_commands(register):
    from ..cli import auth, clients, config, integrations, plugins_cmd, report

    register(auth.app, name="auth")
    register(clients.app, name="clients")
    register(config.app, name="config")
    register(plugins_cmd.app, name="plugins")
    register(integrations.app, name="integrations")
    register(report.app, name="report")
