"""The server registers the `server` command group with the host, and mounts the routers
plugins register (``register_routers``) after its own.

Kept light: importing this module must not import fastapi or sqlalchemy.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    # Named, not imported: a group's module loads only when a command line names it.
    register(
        "qylon_server.cli:app",
        name="server",
        help="Run and administer the team server.\n\nExample: qylon server migrate && qylon server start",
    )


def include_routers(app) -> None:
    """Mount every router a plugin registered, after the built-in ones."""
    from qylon_cli import plugins

    for entry in plugins.routers():
        app.include_router(plugins.resolve(entry.target), **entry.options)
