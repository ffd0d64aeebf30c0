"""The agent registers its command groups with the host through the plugin hooks.

Kept light: importing this module must not import numpy or faster-whisper.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    from .cli.agent import app as agent
    from .cli.meeting import app as meeting
    from .cli.speakers import app as speakers
    from .cli.sync import app as sync

    register(meeting, name="meeting")
    register(agent, name="agent")
    register(sync, name="sync")
    register(speakers, name="speakers")


@hookimpl
def register_report_sources(register):
    register("meetings", "qylon_agent.store.report_rows:meetings")
