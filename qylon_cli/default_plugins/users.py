"""`qylon users` as a default plugin (it moves to the qylon_admin distribution)."""

from __future__ import annotations

from ..plugins import hookimpl


@hookimpl(tryfirst=True)
def register_commands(register):
    from ..cli import users

    register(users.app, name="users")
