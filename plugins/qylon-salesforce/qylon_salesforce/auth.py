"""Salesforce sign-in for a command-line app, as Salesforce documents it for a connected
app: the OAuth 2.0 web server flow with PKCE through a loopback redirect, or the OAuth 2.0
device flow; tokens kept in the OS keyring and refreshed with the refresh token.

What is kept under ``keystore.oauth_name("salesforce")`` is a JSON document:
``{"type": "oauth" | "device", "access_token", "refresh_token", "instance_url",
"client_id", "issued_at"}``. Salesforce's token answer carries no lifetime, so the access
token is refreshed when the API answers 401 (``INVALID_SESSION_ID``). In CI,
``QYLON_SALESFORCE_TOKEN`` with ``QYLON_SALESFORCE_INSTANCE_URL`` wins over the keyring. A
connected app that requires its secret for the web server flow gets it from
``QYLON_SALESFORCE_CLIENT_SECRET`` (kept in the keyring after the first sign-in).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from qylon_cli import keystore, tokens
from qylon_cli.errors import InvalidInput, NotAuthenticated

NAME = keystore.oauth_name("salesforce")
TOKEN_ENV = "QYLON_SALESFORCE_TOKEN"
INSTANCE_ENV = "QYLON_SALESFORCE_INSTANCE_URL"
SECRET_NAME = "salesforce-client-secret"
SECRET_ENV = "QYLON_SALESFORCE_CLIENT_SECRET"


@dataclass
class Config:
    login_url: str
    client_id: str
    api_version: str
    scopes: str
    redirect_port: int
    max_retries: int
    timeout_s: float

    @classmethod
    def load(cls) -> Config:
        from qylon_cli import settings

        version = str(settings.load().get("salesforce.api_version")).lstrip("v")
        return settings.section(cls, "salesforce", api_version=version)

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/services/oauth2/token"

    @property
    def authorize_url(self) -> str:
        return f"{self.login_url}/services/oauth2/authorize"


def _from_env() -> dict | None:
    import os

    if os.environ.get(TOKEN_ENV):
        return {
            "type": "token",
            "access_token": os.environ[TOKEN_ENV].strip(),
            "instance_url": os.environ.get(INSTANCE_ENV, "").rstrip("/"),
            "env": True,
        }
    return None


# the environment's token first
KEPT = tokens.KeptTokens("salesforce", from_env=_from_env, secret=(SECRET_NAME, SECRET_ENV))
stored, save, forget = KEPT.stored, KEPT.save, KEPT.forget


def not_connected() -> NotAuthenticated:
    return NotAuthenticated(
        "Salesforce is not connected.",
        hint="Run: qylon integrations connect salesforce --oauth (or --device)",
    )


def current() -> dict:
    creds = stored()
    if creds is None:
        raise not_connected()
    if not creds.get("instance_url"):
        raise InvalidInput(
            "Salesforce's instance address is not known.",
            hint=f"Set {INSTANCE_ENV} with {TOKEN_ENV}, or connect again.",
        )
    return creds


def can_refresh() -> bool:
    creds = stored()
    return bool(creds and not creds.get("env") and creds.get("refresh_token"))


def _client_secret() -> str | None:
    return KEPT.client_secret()


def token_request(config: Config, form: dict, *, pending_ok: bool = False) -> dict:
    """POST to Salesforce's token endpoint (form-encoded). Errors come back as
    ``{"error", "error_description"}``; with ``pending_ok`` (the device flow's polling),
    ``authorization_pending`` and ``slow_down`` are returned rather than raised."""
    answer, body = tokens.post_form("Salesforce", config.token_url, form, timeout=config.timeout_s)
    if answer.status_code >= 400:
        if pending_ok and body.get("error") in ("authorization_pending", "slow_down"):
            return body
        message = body.get("error_description") or body.get("error") or answer.text[:200]
        raise NotAuthenticated(
            f"Salesforce refused the sign-in: {message}",
            hint="Connect again: qylon integrations connect salesforce --oauth (or --device)",
        )
    return body


def _creds(kind: str, config: Config, tokens: dict, previous: dict | None = None) -> dict:
    previous = previous or {}
    return {
        "type": kind,
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token") or previous.get("refresh_token"),
        "instance_url": (tokens.get("instance_url") or previous.get("instance_url", "")).rstrip(
            "/"
        ),
        "client_id": config.client_id or previous.get("client_id"),
        "issued_at": tokens.get("issued_at"),
    }


def refresh(config: Config) -> dict:
    """A new access token from the refresh token (Salesforce keeps the refresh token)."""
    creds = stored()
    if not creds or not creds.get("refresh_token"):
        raise not_connected()
    form = {
        "grant_type": "refresh_token",
        "client_id": creds.get("client_id") or config.client_id,
        "refresh_token": creds["refresh_token"],
    }
    if secret := _client_secret():
        form["client_secret"] = secret
    fresh = _creds(creds["type"], config, token_request(config, form), creds)
    save(fresh)
    return fresh


def _need_client_id(config: Config) -> None:
    if not config.client_id:
        raise InvalidInput(
            "Salesforce's sign-in needs your connected app's consumer key.",
            hint="qylon config set salesforce.client_id YOUR-CONSUMER-KEY",
        )


def oauth_sign_in(config: Config, *, open_url: Callable[[str], None], timeout=300.0) -> dict:
    """The web server flow with PKCE: Salesforce's authorize page, the code caught on a
    loopback port, exchanged (with the verifier) at the token endpoint."""
    from urllib.parse import urlencode

    from qylon_cli.oauth import loopback_code

    _need_client_id(config)

    def consent(redirect_uri: str, state: str, challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "scope": config.scopes,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{config.authorize_url}?{urlencode(query)}"

    grant = loopback_code(
        "Salesforce",
        port=config.redirect_port,
        consent_url=consent,
        open_url=open_url,
        timeout=timeout,
    )
    form = {
        "grant_type": "authorization_code",
        "client_id": config.client_id,
        "redirect_uri": grant.redirect_uri,
        "code": grant.code,
        "code_verifier": grant.verifier,
    }
    secret = _client_secret()
    if secret:
        form["client_secret"] = secret
    creds = _creds("oauth", config, token_request(config, form))
    save(creds)
    if secret:
        keystore.put(SECRET_NAME, secret)
    return creds


def device_sign_in(
    config: Config,
    *,
    show: Callable[[dict], None],
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 600.0,
) -> dict:
    """The device flow: ask for a user code (``response_type=device_code``), show it and
    the verification address, then poll (``grant_type=device``) every ``interval`` seconds
    until the user has approved it, slowing down when Salesforce says so."""
    _need_client_id(config)
    start = token_request(
        config,
        {"response_type": "device_code", "client_id": config.client_id, "scope": config.scopes},
    )
    show(start)
    interval = float(start["interval"]) if start.get("interval") is not None else 5.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sleep(interval)
        answer = token_request(
            config,
            {"grant_type": "device", "client_id": config.client_id, "code": start["device_code"]},
            pending_ok=True,
        )
        if answer.get("error") == "slow_down":
            interval += 5
        elif "access_token" in answer:
            creds = _creds("device", config, answer)
            save(creds)
            return creds
    raise NotAuthenticated("The device sign-in was not approved in time.")
