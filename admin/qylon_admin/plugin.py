"""The admin part registers its command groups with the host through the plugin hooks.

Kept light: importing this module must not import pydantic, email-validator or phonenumbers.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    from .cli.users import app as users

    register(users, name="users")
