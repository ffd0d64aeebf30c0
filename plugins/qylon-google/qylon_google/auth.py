"""Google sign-in: OAuth 2.0 for installed apps, the authorization code with PKCE through a
loopback redirect (``qylon_cli.oauth``), as Google documents for desktop apps; tokens kept
in the OS keyring and refreshed when they expire.

What is kept under ``keystore.oauth_name("google")`` is ``{"type": "oauth", "access_token",
"refresh_token", "expires_at", "client_id"}``. Google answers a refresh token only when asked
for offline access (``access_type=offline``, with ``prompt=consent`` so that a second sign-in
gets one too); a refresh answers no new one, so the kept one stays. A desktop client's
"secret" is not secret (Google says so), but its token endpoint still wants it: it comes
from ``QYLON_GOOGLE_CLIENT_SECRET`` or the keyring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qylon_cli import keystore, tokens
from qylon_cli.errors import InvalidInput, NotAuthenticated

SECRET_NAME = "google-client-secret"
SECRET_ENV = "QYLON_GOOGLE_CLIENT_SECRET"
EARLY_S = 120


@dataclass
class Config:
    meet_base: str
    calendar_base: str
    drive_base: str
    auth_url: str
    token_url: str
    client_id: str
    scopes: str
    redirect_port: int
    max_retries: int
    timeout_s: float

    @classmethod
    def load(cls) -> Config:
        from qylon_cli import settings

        return settings.section(cls, "google")


KEPT = tokens.KeptTokens("google")
stored, save, forget = KEPT.stored, KEPT.save, KEPT.forget


def not_connected() -> NotAuthenticated:
    return NotAuthenticated(
        "Google is not connected.", hint="Run: qylon integrations connect google --oauth"
    )


def _client_secret() -> str | None:
    return tokens.client_secret(SECRET_NAME, SECRET_ENV)


def _token_request(config: Config, form: dict) -> dict:
    """POST to Google's token endpoint, the client's id and secret in the form."""
    secret = _client_secret()
    sent = {**form, "client_id": form.get("client_id") or config.client_id}
    if secret:
        sent["client_secret"] = secret
    answer, body = tokens.post_form("Google", config.token_url, sent, timeout=config.timeout_s)
    if answer.status_code >= 400:
        reason = body.get("error_description") or body.get("error") or answer.text[:200]
        raise NotAuthenticated(
            f"Google refused the sign-in: {reason}",
            hint="Connect again: qylon integrations connect google --oauth",
        )
    return body


def refresh(config: Config, creds: dict) -> dict:
    if not creds.get("refresh_token"):
        raise not_connected()
    answer = _token_request(
        config,
        {
            "grant_type": "refresh_token",
            "refresh_token": creds["refresh_token"],
            "client_id": creds.get("client_id") or config.client_id,
        },
    )
    fresh = tokens.refreshed(answer, creds, config.client_id, 3600)
    save(fresh)
    return fresh


def access_token(config: Config, *, force_refresh: bool = False) -> str:
    creds = stored()
    if creds is None:
        raise not_connected()
    if force_refresh or tokens.expiring(creds, EARLY_S):
        creds = refresh(config, creds)
    return creds["access_token"]


def authorize_url(config: Config, redirect_uri: str, state: str, challenge: str) -> str:
    from urllib.parse import urlencode

    query = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": config.scopes,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",  # a refresh token
        "prompt": "consent",  # ... every time, not only at the first consent
    }
    return f"{config.auth_url}?{urlencode(query)}"


def oauth_sign_in(config: Config, *, open_url: Callable[[str], None], timeout=300.0) -> dict:
    """Google's consent page, the code caught on a loopback port, exchanged (with the PKCE
    verifier) for tokens that are kept."""
    from qylon_cli.oauth import loopback_code

    if not config.client_id:
        raise InvalidInput(
            "Google's sign-in needs your OAuth client's id (a desktop app).",
            hint=f"qylon config set google.client_id CLIENT-ID (and set {SECRET_ENV})",
        )
    grant = loopback_code(
        "Google",
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
    )
    creds = tokens.refreshed(answer, None, config.client_id, 3600)
    save(creds)
    secret = _client_secret()
    if secret:
        keystore.put(SECRET_NAME, secret)
    return creds
