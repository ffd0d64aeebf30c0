"""Zoom sign-in: OAuth 2.0 authorization code with PKCE through a loopback redirect (a
user's own recordings), or Server-to-Server OAuth (the ``account_credentials`` grant, for
CI and unattended imports). Tokens are kept in the OS keyring and refreshed when they expire.

What is kept under ``keystore.oauth_name("zoom")`` is ``{"type": "oauth", "access_token",
"refresh_token", "expires_at", "client_id"}``. Zoom rotates refresh tokens: each refresh
answers a new one, which replaces the old one at once (the old one stops working).

Server-to-Server OAuth is chosen when ``QYLON_ZOOM_ACCOUNT_ID``, ``QYLON_ZOOM_CLIENT_ID``
and ``QYLON_ZOOM_CLIENT_SECRET`` are set; its token (an hour) is held in memory only.
Both token requests authenticate the app with HTTP Basic (client id and secret), as
Zoom's OAuth documentation says.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from qylon_cli import keystore, tokens
from qylon_cli.errors import InvalidInput, NotAuthenticated, UsageError

NAME = keystore.oauth_name("zoom")
SECRET_NAME = "zoom-client-secret"
SECRET_ENV = "QYLON_ZOOM_CLIENT_SECRET"
ACCOUNT_ENV = "QYLON_ZOOM_ACCOUNT_ID"
CLIENT_ENV = "QYLON_ZOOM_CLIENT_ID"
EARLY_S = 60  # refresh this long before the access token expires
_s2s: dict[str, dict] = {}  # account id -> {"access_token", "expires_at"}, this process only


@dataclass
class Config:
    api_base: str
    auth_url: str
    token_url: str
    client_id: str
    redirect_port: int
    max_retries: int
    timeout_s: float

    @classmethod
    def load(cls) -> Config:
        from qylon_cli import settings

        return settings.section(cls, "zoom")


def server_to_server() -> tuple[str, str, str] | None:
    """(account id, client id, secret) when the environment names a Server-to-Server app."""
    found = tuple(os.environ.get(k, "").strip() for k in (ACCOUNT_ENV, CLIENT_ENV, SECRET_ENV))
    return found if all(found) else None  # type: ignore[return-value]


# Server-to-Server's environment first; a kept value that is not JSON counts as none.
KEPT = tokens.KeptTokens(
    "zoom",
    from_env=lambda: {"type": "server_to_server", "env": True} if server_to_server() else None,
    from_text=lambda raw: None,
)
stored, save = KEPT.stored, KEPT.save


def forget() -> bool:
    _s2s.clear()
    return KEPT.forget()


def not_connected() -> NotAuthenticated:
    return NotAuthenticated(
        "Zoom is not connected.",
        hint=f"Run: qylon integrations connect zoom --oauth (or set {ACCOUNT_ENV}, "
        f"{CLIENT_ENV} and {SECRET_ENV} for a Server-to-Server app)",
    )


def access_token(config: Config, *, force_refresh: bool = False) -> str:
    """A valid access token: Server-to-Server's (fetched when missing or expired), else the
    kept OAuth one, refreshed first when it has expired."""
    s2s = server_to_server()
    if s2s:
        account, client_id, secret = s2s
        held = _s2s.get(account)
        if force_refresh or not held or held["expires_at"] - EARLY_S < time.time():
            answer = _token_request(
                config,
                {"grant_type": "account_credentials", "account_id": account},
                client_id,
                secret,
            )
            held = _s2s[account] = {
                "access_token": answer["access_token"],
                "expires_at": time.time() + float(answer.get("expires_in", 3600)),
            }
        return held["access_token"]
    creds = stored()
    if creds is None:
        raise not_connected()
    if force_refresh or tokens.expiring(creds, EARLY_S):
        creds = refresh(config, creds)
    return creds["access_token"]


def _client_secret() -> str:
    secret = tokens.client_secret(SECRET_NAME, SECRET_ENV)
    if not secret:
        raise UsageError(
            "Zoom's OAuth sign-in needs the app's client secret.",
            hint=f"Set {SECRET_ENV} (it is kept in the keyring once a sign-in succeeds).",
        )
    return secret


def _token_request(config: Config, form: dict, client_id: str, secret: str) -> dict:
    """POST to Zoom's token endpoint: form-encoded, the app in HTTP Basic."""
    answer, body = tokens.post_form(
        "Zoom", config.token_url, form, timeout=config.timeout_s, auth=(client_id, secret)
    )
    if answer.status_code >= 400:
        message = body.get("reason") or body.get("error_description") or body.get("message")
        raise NotAuthenticated(
            f"Zoom refused the sign-in: {message or answer.text[:200]}",
            hint="Connect again: qylon integrations connect zoom --oauth",
        )
    return answer.json()


def _oauth_creds(config: Config, answer: dict, previous: dict | None = None) -> dict:
    # Zoom rotates refresh tokens: the new one replaces the old, which no longer works.
    return tokens.refreshed(answer, previous, config.client_id, 3600)


def refresh(config: Config, creds: dict) -> dict:
    if not creds.get("refresh_token"):
        raise not_connected()
    client_id = creds.get("client_id") or config.client_id
    answer = _token_request(
        config,
        {"grant_type": "refresh_token", "refresh_token": creds["refresh_token"]},
        client_id,
        _client_secret(),
    )
    fresh = _oauth_creds(config, answer, creds)
    save(fresh)
    return fresh


def authorize_url(config: Config, redirect_uri: str, state: str, challenge: str) -> str:
    from urllib.parse import urlencode

    query = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{config.auth_url}?{urlencode(query)}"


def oauth_sign_in(config: Config, *, open_url, timeout: float = 300.0) -> dict:
    """The browser flow: Zoom's consent page, the code caught on a loopback port, exchanged
    (with the PKCE verifier) for tokens that are kept."""
    from qylon_cli.oauth import loopback_code

    if not config.client_id:
        raise InvalidInput(
            "Zoom's OAuth sign-in needs your app's client id.",
            hint=f"qylon config set zoom.client_id YOUR-APP-ID (and set {SECRET_ENV})",
        )
    secret = _client_secret()
    grant = loopback_code(
        "Zoom",
        port=config.redirect_port,
        consent_url=lambda uri, state, challenge: authorize_url(config, uri, state, challenge),
        open_url=open_url,
        timeout=timeout,
    )
    answer = _token_request(
        config,
        {
            "grant_type": "authorization_code",
            "code": grant.code,
            "redirect_uri": grant.redirect_uri,
            "code_verifier": grant.verifier,
        },
        config.client_id,
        secret,
    )
    creds = _oauth_creds(config, answer)
    save(creds)
    keystore.put(SECRET_NAME, secret)
    return creds
