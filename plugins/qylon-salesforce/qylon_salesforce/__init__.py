"""Qylon's Salesforce integration (a plugin: entry point ``salesforce`` in the group ``qylon``).

Registers the ``salesforce`` CRM provider, its workflow actions (``salesforce.post_note``,
``salesforce.create_task``) and its settings section. Loading this module
imports nothing but ``qylon_cli.plugins``: the provider is named as a string and imported
only when a command uses it, so ``qylon --help`` stays fast.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl

# Salesforce's production login host; a sandbox uses https://test.salesforce.com, a My
# Domain its own host. The API's address is the ``instance_url`` the token endpoint returns.
LOGIN_URL = "https://login.salesforce.com"
API_VERSION = "62.0"
SCOPES = "api refresh_token"


@hookimpl
def register_providers(register):
    register(
        kind="crm",
        name="salesforce",
        factory="qylon_salesforce.provider:Salesforce",
        auth="oauth (PKCE) or device flow",
    )


@hookimpl
def register_actions(register):
    register(
        "salesforce.post_note",
        "qylon_salesforce.actions:post_note",
        input="qylon_salesforce.actions:NoteInput",
        compensate="qylon_salesforce.actions:delete_note",
    )
    register(
        "salesforce.create_task",
        "qylon_salesforce.actions:create_task",
        input="qylon_salesforce.actions:TaskInput",
        compensate="qylon_salesforce.actions:delete_task",
    )


@hookimpl
def register_settings(register):
    register(
        "salesforce",
        {
            "login_url": LOGIN_URL,
            "client_id": str,
            "api_version": API_VERSION,
            "scopes": SCOPES,
            "redirect_port": 1717,
            "max_retries": 5,
            "timeout_s": 30.0,
        },
        help="Salesforce: the login host, the connected app, the API version and the retry policy.",
    )
