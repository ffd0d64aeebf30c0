"""Qylon's Zoom integration (a plugin: entry point ``zoom`` in the group ``qylon``).

Registers the ``zoom`` video provider (cloud recordings, their participants, resumable
downloads) and its settings section. Loading this module imports nothing but
``qylon_cli.plugins``: the provider is named as a string and imported only when a command
uses it, so ``qylon --help`` stays fast.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl

# Zoom's production addresses; tests point them at a loopback fake.
API_BASE = "https://api.zoom.us/v2"
AUTH_URL = "https://zoom.us/oauth/authorize"
TOKEN_URL = "https://zoom.us/oauth/token"


@hookimpl
def register_providers(register):
    register(
        kind="video",
        name="zoom",
        factory="qylon_zoom.provider:Zoom",
        auth="oauth (PKCE) or server-to-server oauth",
    )


@hookimpl
def register_settings(register):
    register(
        "zoom",
        {
            "api_base": API_BASE,
            "auth_url": AUTH_URL,
            "token_url": TOKEN_URL,
            "client_id": str,
            "redirect_port": 8977,
            "max_retries": 5,
            "timeout_s": 60.0,
        },
        help="Zoom: the API's addresses, the OAuth app and the retry policy.",
    )
