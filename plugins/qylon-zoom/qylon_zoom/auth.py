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

import json
import os
import time
from dataclasses import dataclass

from qylon_cli import keystore
from qylon_cli.errors import InvalidInput, NotAuthenticated, Unavailable, UsageError

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

        s = settings.load()
        return cls(
            api_base=str(s.get("zoom.api_base")).rstrip("/"),
            auth_url=str(s.get("zoom.auth_url")),
            token_url=str(s.get("zoom.token_url")),
            client_id=str(s.get("zoom.client_id") or ""),
            redirect_port=int(s.get("zoom.redirect_port")),
            max_retries=int(s.get("zoom.max_retries")),
            timeout_s=float(s.get("zoom.timeout_s")),
        )


def server_to_server() -> tuple[str, str, str] | None:
    """(account id, client id, secret) when the environment names a Server-to-Server app."""
    found = tuple(os.environ.get(k, "").strip() for k in (ACCOUNT_ENV, CLIENT_ENV, SECRET_ENV))
    return found if all(found) else None  # type: ignore[return-value]


def stored() -> dict | None:
    if server_to_server():
        return {"type": "server_to_server", "env": True}
    raw = keystore.get(NAME, quiet=True)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def save(creds: dict) -> None:
    keystore.put(NAME, json.dumps(creds))


def forget() -> bool:
    _s2s.clear()
    return keystore.delete(NAME)


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
            tokens = _token_request(
                config,
                {"grant_type": "account_credentials", "account_id": account},
                client_id,
                secret,
            )
            held = _s2s[account] = {
                "access_token": tokens["access_token"],
                "expires_at": time.time() + float(tokens.get("expires_in", 3600)),
            }
        return held["access_token"]
    creds = stored()
    if creds is None:
        raise not_connected()
    if force_refresh or float(creds.get("expires_at", 0)) - EARLY_S < time.time():
        creds = refresh(config, creds)
    return creds["access_token"]


def _client_secret() -> str:
    secret = keystore.get(SECRET_NAME, env=SECRET_ENV, quiet=True)
    if not secret:
        raise UsageError(
            "Zoom's OAuth sign-in needs the app's client secret.",
            hint=f"Set {SECRET_ENV} (it is kept in the keyring once a sign-in succeeds).",
        )
    return secret


def _token_request(config: Config, form: dict, client_id: str, secret: str) -> dict:
    """POST to Zoom's token endpoint: form-encoded, the app in HTTP Basic."""
    import httpx2

    try:
        answer = httpx2.post(
            config.token_url, data=form, auth=(client_id, secret), timeout=config.timeout_s
        )
    except httpx2.TransportError as exc:
        raise Unavailable(f"Zoom's token endpoint did not answer: {exc}.") from None
    if answer.status_code >= 400:
        try:
            body = answer.json()
        except ValueError:
            body = {}
        message = body.get("reason") or body.get("error_description") or body.get("message")
        raise NotAuthenticated(
            f"Zoom refused the sign-in: {message or answer.text[:200]}",
            hint="Connect again: qylon integrations connect zoom --oauth",
        )
    return answer.json()


def _oauth_creds(config: Config, tokens: dict, previous: dict | None = None) -> dict:
    return {
        "type": "oauth",
        "access_token": tokens["access_token"],
        # Zoom rotates refresh tokens: the new one replaces the old, which no longer works.
        "refresh_token": tokens.get("refresh_token") or (previous or {}).get("refresh_token"),
        "expires_at": time.time() + float(tokens.get("expires_in", 3600)),
        "client_id": config.client_id or (previous or {}).get("client_id"),
    }


def refresh(config: Config, creds: dict) -> dict:
    if not creds.get("refresh_token"):
        raise not_connected()
    client_id = creds.get("client_id") or config.client_id
    tokens = _token_request(
        config,
        {"grant_type": "refresh_token", "refresh_token": creds["refresh_token"]},
        client_id,
        _client_secret(),
    )
    fresh = _oauth_creds(config, tokens, creds)
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
    tokens = _token_request(
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
    creds = _oauth_creds(config, tokens)
    save(creds)
    keystore.put(SECRET_NAME, secret)
    return creds
