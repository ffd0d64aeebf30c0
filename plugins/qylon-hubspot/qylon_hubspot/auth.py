"""HubSpot sign-in: a private app's access token, or OAuth 2.0 (authorization code with
PKCE through a loopback redirect), kept in the OS keyring and refreshed when it expires.

What is kept under ``keystore.oauth_name("hubspot")`` is a JSON document:
``{"type": "private_app", "access_token"}`` or ``{"type": "oauth", "access_token",
"refresh_token", "expires_at", "client_id"}``. ``QYLON_HUBSPOT_TOKEN`` (a private-app
token) wins over the keyring, for CI. An OAuth app's client secret is read from
``QYLON_HUBSPOT_CLIENT_SECRET`` or the keyring (``hubspot-client-secret``).
"""

from __future__ import annotations

from dataclasses import dataclass

from qylon_cli import keystore, tokens
from qylon_cli.errors import InvalidInput, NotAuthenticated, UsageError

NAME = keystore.oauth_name("hubspot")
TOKEN_ENV = "QYLON_HUBSPOT_TOKEN"
SECRET_NAME = "hubspot-client-secret"
SECRET_ENV = "QYLON_HUBSPOT_CLIENT_SECRET"
EARLY_S = 60  # refresh this long before the access token expires


@dataclass
class Config:
    api_base: str
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

        return settings.section(cls, "hubspot")


def _from_env() -> dict | None:
    import os

    if os.environ.get(TOKEN_ENV):
        return {"type": "private_app", "access_token": os.environ[TOKEN_ENV].strip(), "env": True}
    return None


# The environment's private-app token first; a kept value that is not JSON is a bare token.
KEPT = tokens.KeptTokens(
    "hubspot",
    from_env=_from_env,
    from_text=lambda raw: {"type": "private_app", "access_token": raw},
    secret=(SECRET_NAME, SECRET_ENV),
)
stored, save, forget = KEPT.stored, KEPT.save, KEPT.forget


def not_connected() -> NotAuthenticated:
    return NotAuthenticated(
        "HubSpot is not connected.",
        hint="Run: qylon integrations connect hubspot --token-stdin < token.txt (or --oauth)",
    )


def access_token(config: Config, *, force_refresh: bool = False) -> str:
    """A valid access token: the kept one, refreshed first when it has expired (OAuth)."""
    creds = stored()
    if creds is None:
        raise not_connected()
    if creds.get("type") == "oauth" and (force_refresh or tokens.expiring(creds, EARLY_S)):
        creds = refresh(config, creds)
    return creds["access_token"]


def can_refresh() -> bool:
    creds = stored()
    return bool(creds and creds.get("type") == "oauth" and creds.get("refresh_token"))


def _client_secret() -> str:
    secret = KEPT.client_secret()
    if not secret:
        raise UsageError(
            "HubSpot's OAuth sign-in needs the app's client secret.",
            hint=f"Set {SECRET_ENV} (it is kept in the keyring once a sign-in succeeds).",
        )
    return secret


def _token_request(config: Config, form: dict) -> dict:
    """POST to HubSpot's token endpoint (form-encoded, as RFC 6749 and HubSpot's docs say)."""
    answer, body = tokens.post_form("HubSpot", config.token_url, form, timeout=config.timeout_s)
    if answer.status_code >= 400:
        message = body.get("message") or body.get("error_description") or answer.text[:200]
        raise NotAuthenticated(
            f"HubSpot refused the sign-in: {message}",
            hint="Connect again: qylon integrations connect hubspot --oauth",
        )
    return answer.json()


def _oauth_creds(config: Config, answer: dict, previous: dict | None = None) -> dict:
    return tokens.refreshed(answer, previous, config.client_id, 1800)


def refresh(config: Config, creds: dict) -> dict:
    if not creds.get("refresh_token"):
        raise not_connected()
    answer = _token_request(
        config,
        {
            "grant_type": "refresh_token",
            "client_id": creds.get("client_id") or config.client_id,
            "client_secret": _client_secret(),
            "refresh_token": creds["refresh_token"],
        },
    )
    fresh = _oauth_creds(config, answer, creds)
    save(fresh)
    return fresh


# -- authorization code with PKCE (RFC 7636), redirected to a loopback port (RFC 8252) -----


def authorize_url(config: Config, redirect_uri: str, state: str, challenge: str) -> str:
    from urllib.parse import urlencode

    query = {
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": config.scopes,
        "state": state,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{config.auth_url}?{urlencode(query)}"


def oauth_sign_in(config: Config, *, open_url, timeout: float = 300.0) -> dict:
    """Run the browser flow: open HubSpot's consent page, catch the code on a loopback
    port, exchange it (with the PKCE verifier) for tokens, and keep them."""
    from qylon_cli.oauth import loopback_code

    if not config.client_id:
        raise InvalidInput(
            "HubSpot's OAuth sign-in needs your app's client id.",
            hint="qylon config set hubspot.client_id YOUR-APP-ID (and set QYLON_HUBSPOT_CLIENT_SECRET)",
        )
    secret = _client_secret()
    grant = loopback_code(
        "HubSpot",
        port=config.redirect_port,
        consent_url=lambda uri, state, challenge: authorize_url(config, uri, state, challenge),
        open_url=open_url,
        timeout=timeout,
    )
    answer = _token_request(
        config,
        {
            "grant_type": "authorization_code",
            "client_id": config.client_id,
            "client_secret": secret,
            "redirect_uri": grant.redirect_uri,
            "code": grant.code,
            "code_verifier": grant.verifier,
        },
    )
    creds = _oauth_creds(config, answer)
    save(creds)
    keystore.put(SECRET_NAME, secret)
    return creds
