"""The agent registers its command groups with the host through the plugin hooks.

Kept light: importing this module must not import numpy or faster-whisper.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    from .cli.meeting import app as meeting

    from .cli.agent import app as agent

    register(meeting, name="meeting")
    register(agent, name="agent")
    from .cli.speakers import app as speakers

    register(speakers, name="speakers")
