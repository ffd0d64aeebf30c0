"""Qylon's Google Workspace integration (a plugin: entry point ``google`` in the group ``qylon``).

Registers the ``meet`` video provider (Google Meet's conference records: recordings, kept
in Drive, and transcripts) and the ``google`` calendar provider (Google Calendar), both
signed in as the integration ``google`` (`qylon integrations connect google --oauth`:
Google's loopback redirect with PKCE), and its settings section. Loading this module imports
nothing but ``qylon_cli.plugins``: the providers are named as strings and imported only when
a command uses them, so ``qylon --help`` stays fast.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl

# Google's production addresses; tests point them at a loopback fake.
MEET_BASE = "https://meet.googleapis.com/v2"
CALENDAR_BASE = "https://www.googleapis.com/calendar/v3"
DRIVE_BASE = "https://www.googleapis.com/drive/v3"
AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPES = (
    "https://www.googleapis.com/auth/meetings.space.readonly "
    "https://www.googleapis.com/auth/drive.meet.readonly "
    "https://www.googleapis.com/auth/calendar.readonly"
)


@hookimpl
def register_providers(register):
    register(
        kind="video",
        name="meet",
        factory="qylon_google.provider:Google",
        auth="oauth (PKCE)",
        integration="google",
    )
    register(
        kind="calendar",
        name="google",
        factory="qylon_google.provider:Google",
        auth="oauth (PKCE)",
        integration="google",
    )


@hookimpl
def register_settings(register):
    register(
        "google",
        {
            "meet_base": MEET_BASE,
            "calendar_base": CALENDAR_BASE,
            "drive_base": DRIVE_BASE,
            "auth_url": AUTH_URL,
            "token_url": TOKEN_URL,
            "client_id": str,
            "scopes": SCOPES,
            "redirect_port": 8978,
            "max_retries": 5,
            "timeout_s": 60.0,
        },
        help="Google: the APIs' and the sign-in's addresses, the OAuth app (a desktop "
        "client) and the retry policy.",
    )
