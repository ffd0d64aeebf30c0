"""The host's own command groups: auth, clients, config, plugins, integrations, workflows, events, report, jobs."""

from __future__ import annotations

from ..plugins import hookimpl


@hookimpl(tryfirst=True)
def register_commands(register):
    # Named, not imported: a group's module loads only when a command line names it.
    register(
        "qylon_cli.cli.auth:app",
        name="auth",
        help="Log in to the team server and manage API keys.\n\nExample: qylon auth login --server https://qylon.acme.example",
    )
    register(
        "qylon_cli.cli.clients:app",
        name="clients",
        help='The firm\'s clients on the team server.\n\nExample: qylon clients add "Acme Corp" --tag retail',
    )
    register(
        "qylon_cli.cli.config:app",
        name="config",
        help="Read and change settings.\n\nExample: qylon config set transcribe.beam_size 3",
    )
    register(
        "qylon_cli.cli.plugins_cmd:app",
        name="plugins",
        help="Show installed plugins.\n\nExample: qylon plugins list",
    )
    register(
        "qylon_cli.cli.integrations:app",
        name="integrations",
        help="Connect Qylon to your CRM (HubSpot, Salesforce) and other services.\n\n"
        "Example: qylon integrations connect hubspot --token-stdin < token.txt",
    )
    register(
        "qylon_cli.cli.workflows:app",
        name="workflows",
        help="Workflow definitions: check them offline, upload them to the team server, run "
        "them and follow their runs.\n\n"
        "Example: qylon workflows validate config/workflows/*.yaml",
    )
    register(
        "qylon_cli.cli.events:app",
        name="events",
        help="The team server's event store: the domain's history (users, clients, meetings, "
        "workflow runs).\n\nExample: qylon events tail --type user.deactivated --follow",
    )
    register(
        "qylon_cli.cli.report:app",
        name="report",
        help="Figures about meetings, onboarding and experiments: table, JSON, CSV, Markdown, "
        "HTML or PNG with charts.\n\nExample: qylon report meetings --since 30d --format png -o meetings.png",
    )
    register(
        "qylon_cli.cli.jobs:app",
        name="jobs",
        help="Recordings queued on the team server for its transcription workers "
        "(`qylon agent worker`).\n\nExample: qylon jobs submit call.m4a --client Acme --wait",
    )
