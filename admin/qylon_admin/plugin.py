"""The admin part registers its command groups with the host through the plugin hooks.

Kept light: importing this module must not import pydantic, email-validator or phonenumbers.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    from .cli.audit import app as audit
    from .cli.compliance import app as compliance
    from .cli.experiments import app as experiments
    from .cli.groups import app as groups
    from .cli.notifications import app as notifications
    from .cli.onboarding import app as onboarding
    from .cli.users import app as users
    from .cli.webhooks import app as webhooks

    register(users, name="users")
    register(groups, name="groups")
    register(audit, name="audit")
    register(experiments, name="experiments")
    register(onboarding, name="onboarding")
    register(compliance, name="compliance")
    register(webhooks, name="webhooks")
    register(notifications, name="notifications")
