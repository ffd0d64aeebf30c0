"""Qylon's Microsoft 365 integration (a plugin: entry point ``msgraph`` in the group ``qylon``).

Registers, through Microsoft Graph, the ``teams`` video provider (Teams meeting recordings
and transcripts) and the ``msgraph`` calendar provider (the Outlook calendar), both signed
in as the integration ``msgraph`` (`qylon integrations connect msgraph`: Microsoft's device
code flow, through msal), and its settings section. Loading this module imports nothing but
``qylon_cli.plugins``: the providers are named as strings and imported only when a command
uses them, so ``qylon --help`` stays fast.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl

# Microsoft's production addresses; tests point them at a loopback fake.
API_BASE = "https://graph.microsoft.com/v1.0"
# Work and school accounts (Teams' recordings and transcripts need one); a tenant's id or
# domain in place of "organizations" signs in to that tenant only.
AUTHORITY = "https://login.microsoftonline.com/organizations"
# Delegated permissions; msal adds openid, profile and offline_access itself.
SCOPES = (
    "User.Read Calendars.Read OnlineMeetings.Read OnlineMeetingRecording.Read.All "
    "OnlineMeetingTranscript.Read.All OnlineMeetingArtifact.Read.All"
)


@hookimpl
def register_providers(register):
    register(
        kind="video",
        name="teams",
        factory="qylon_msgraph.provider:MsGraph",
        auth="device code",
        integration="msgraph",
    )
    register(
        kind="calendar",
        name="msgraph",
        factory="qylon_msgraph.provider:MsGraph",
        auth="device code",
        integration="msgraph",
    )


@hookimpl
def register_settings(register):
    register(
        "msgraph",
        {
            "api_base": API_BASE,
            "authority": AUTHORITY,
            "client_id": str,
            "scopes": SCOPES,
            "max_retries": 5,
            "timeout_s": 60.0,
        },
        help="Microsoft Graph: the API's and the sign-in's addresses, the app (a public "
        "client registered in Entra ID) and the retry policy.",
    )
