"""The agent registers its command groups with the host through the plugin hooks.

Kept light: importing this module must not import numpy or faster-whisper.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    # Named, not imported: a group's module loads only when a command line names it.
    register(
        "qylon_agent.cli.meeting:app",
        name="meeting",
        help="Record, transcribe, search and export meetings.\n\nExample: qylon meeting transcribe call.m4a --client Acme",
    )
    register(
        "qylon_agent.cli.agent:app",
        name="agent",
        help="The local background agent: records, transcribes and syncs while you work.\n\n"
        "Example: qylon agent start && qylon meeting transcribe call.m4a --background",
    )
    register(
        "qylon_agent.cli.sync:app",
        name="sync",
        help="Push changed and deleted meetings to the team server and pull its client list.\n\nExample: qylon sync --dry-run",
    )
    register(
        "qylon_agent.cli.models:app",
        name="models",
        help="Whisper models for transcription: the bundled tiny.en, folders and packages "
        "added offline, downloads when you ask.\n\nExample: qylon models download small --use",
    )
    register(
        "qylon_agent.cli.speakers:app",
        name="speakers",
        help="Voice profiles: enroll people's voices so transcripts use their names.\n\n"
        'Example: qylon speakers enroll "Dana Scully" dana-intro.m4a',
    )
    register(
        "qylon_agent.cli.privacy:app",
        name="privacy",
        help="Encryption at rest on this device: status, keys, forget a meeting, retention.\n\n"
        "Example: qylon config set privacy.encrypt true && qylon privacy status",
    )


@hookimpl
def register_report_sources(register):
    register("meetings", "qylon_agent.store.report_rows:meetings")
