"""Microsoft sign-in: the device code flow (a code shown here, entered on any device's
browser at Microsoft's address), through msal; tokens kept in the OS keyring and refreshed
with the refresh token when they expire.

msal finds the authority's endpoints from its OpenID configuration
(``{authority}/v2.0/.well-known/openid-configuration``), asks for the device code, polls
the token endpoint until the user has approved (or declined, or the code expired) and
refreshes. What is kept under ``keystore.oauth_name("msgraph")`` is ``{"type": "device",
"access_token", "refresh_token", "expires_at", "client_id", "account"}``; Microsoft may
answer a new refresh token with each refresh, which then replaces the old one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qylon_cli import tokens
from qylon_cli.errors import InvalidInput, NotAuthenticated, Unavailable

EARLY_S = 120  # refresh this long before the access token expires


@dataclass
class Config:
    api_base: str
    authority: str
    client_id: str
    scopes: list[str]
    max_retries: int
    timeout_s: float

    @classmethod
    def load(cls) -> Config:
        from qylon_cli import settings

        scopes = str(settings.load().get("msgraph.scopes")).split()
        return settings.section(cls, "msgraph", scopes=scopes)


KEPT = tokens.KeptTokens("msgraph")
stored, save, forget = KEPT.stored, KEPT.save, KEPT.forget


def not_connected() -> NotAuthenticated:
    return NotAuthenticated(
        "Microsoft 365 is not connected.", hint="Run: qylon integrations connect msgraph"
    )


def _app(config: Config):
    """msal's public client for the app. Instance discovery (a call to Microsoft's own
    host) is off: the authority's OpenID configuration is read from the authority itself."""
    import msal

    if not config.client_id:
        raise InvalidInput(
            "The Microsoft sign-in needs your app's client id (msgraph.client_id).",
            hint="Register a public client app in Entra ID, then: "
            "qylon config set msgraph.client_id APP-ID (docs/integrations.md)",
        )
    try:  # msal reads the authority's OpenID configuration here
        return _msal(
            lambda: msal.PublicClientApplication(
                config.client_id,
                authority=config.authority,
                instance_discovery=False,
                timeout=config.timeout_s,
            ),
            config,
        )
    except ValueError as exc:  # msal: the authority's configuration could not be read
        raise Unavailable(
            f"Microsoft's sign-in at {config.authority} did not answer as expected: {exc}",
            hint="Check the network, or msgraph.authority (`qylon config show`).",
        ) from None


def _msal(call: Callable[[], dict], config: Config) -> dict:
    """msal's answer; its transport failures become ``Unavailable``."""
    import requests

    try:
        return call()
    except requests.RequestException as exc:
        raise Unavailable(
            f"Microsoft's sign-in at {config.authority} did not answer: {exc}.",
            hint="Check the network, or msgraph.authority (`qylon config show`).",
        ) from None


def _refused(answer: dict) -> NotAuthenticated:
    reason = answer.get("error_description") or answer.get("error") or "no reason given"
    return NotAuthenticated(
        f"Microsoft refused the sign-in: {reason.splitlines()[0]}",
        hint="Connect again: qylon integrations connect msgraph",
    )


def _creds(config: Config, answer: dict, previous: dict | None = None) -> dict:
    if "access_token" not in answer:
        raise _refused(answer)
    claims = answer.get("id_token_claims") or {}
    account = claims.get("preferred_username") or (previous or {}).get("account")
    return tokens.refreshed(
        answer, previous, config.client_id, 3600, type="device", account=account
    )


def device_sign_in(config: Config, *, show: Callable[[dict], None]) -> dict:
    """Ask for a device code, ``show`` it (``user_code``, ``verification_uri``, Microsoft's
    ``message``), wait until the user approved it, and keep the tokens."""
    app = _app(config)
    flow = _msal(lambda: app.initiate_device_flow(scopes=config.scopes), config)
    if "user_code" not in flow:
        raise _refused(flow)
    show(flow)
    answer = _msal(lambda: app.acquire_token_by_device_flow(flow), config)
    creds = _creds(config, answer)
    save(creds)
    return creds


def refresh(config: Config, creds: dict) -> dict:
    if not creds.get("refresh_token"):
        raise not_connected()
    app = _app(config)
    answer = _msal(
        lambda: app.acquire_token_by_refresh_token(creds["refresh_token"], config.scopes), config
    )
    fresh = _creds(config, answer, creds)
    save(fresh)
    return fresh


def access_token(config: Config, *, force_refresh: bool = False) -> str:
    """A valid access token: the kept one, refreshed first when it expires soon."""
    creds = stored()
    if creds is None:
        raise not_connected()
    if force_refresh or tokens.expiring(creds, EARLY_S):
        creds = refresh(config, creds)
    return creds["access_token"]
