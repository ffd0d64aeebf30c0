"""The server registers the `server` command group with the host.

Kept light: importing this module must not import fastapi or sqlalchemy.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    from .cli import app

    register(app, name="server")
