"""Qylon's HubSpot integration (a plugin: entry point ``hubspot`` in the group ``qylon``).

Registers the ``hubspot`` CRM provider, its workflow actions (``hubspot.post_note``,
``hubspot.create_task``) and its settings section. Loading this module
imports nothing but ``qylon_cli.plugins``: the provider is named as a string and imported
only when a command uses it, so ``qylon --help`` stays fast.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl

# HubSpot's production addresses; tests point them at a loopback fake.
API_BASE = "https://api.hubapi.com"
AUTH_URL = "https://app.hubspot.com/oauth/authorize"
TOKEN_URL = "https://api.hubapi.com/oauth/v1/token"
SCOPES = "oauth crm.objects.contacts.read crm.objects.contacts.write crm.objects.companies.read crm.objects.owners.read"


@hookimpl
def register_providers(register):
    register(
        kind="crm",
        name="hubspot",
        factory="qylon_hubspot.provider:HubSpot",
        auth="private app token or oauth",
    )


@hookimpl
def register_actions(register):
    register(
        "hubspot.post_note",
        "qylon_hubspot.actions:post_note",
        input="qylon_hubspot.actions:NoteInput",
        compensate="qylon_hubspot.actions:delete_note",
    )
    register(
        "hubspot.create_task",
        "qylon_hubspot.actions:create_task",
        input="qylon_hubspot.actions:TaskInput",
        compensate="qylon_hubspot.actions:delete_task",
    )


@hookimpl
def register_settings(register):
    register(
        "hubspot",
        {
            "api_base": API_BASE,
            "auth_url": AUTH_URL,
            "token_url": TOKEN_URL,
            "client_id": str,
            "scopes": SCOPES,
            "redirect_port": 8976,
            "max_retries": 5,
            "timeout_s": 30.0,
        },
        help="HubSpot: the API's addresses, the OAuth app and the retry policy.",
    )
