"""What the integrations' kept credentials share: a JSON document in the OS keyring under
``keystore.oauth_name(integration)``, an environment override for CI, the app's client
secret, and the token endpoint's form POST (RFC 6749).

Each plugin keeps its own shape of document, its refresh and its error messages; this
module only reads, writes and forgets the document and makes the POST.

On the team server a workflow step runs inside ``connections(...)``: there the documents
are the step's organisation's own connections (kept sealed by the server, docs/integrations.md),
and neither the environment nor the server process's keyring is ever read, so one
organisation's run can never act with another's, or the server's, credentials.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from . import keystore
from .errors import Unavailable


class Connections(Protocol):
    """An organisation's connections, by integration name (the server implements it)."""

    def load(self, integration: str) -> dict | None: ...

    def save(self, integration: str, creds: dict) -> None: ...


_SCOPE: ContextVar[Connections | None] = ContextVar("qylon_connections", default=None)


@contextmanager
def connections(scope: Connections) -> Iterator[None]:
    """Within the block, every integration's credentials are ``scope``'s."""
    token = _SCOPE.set(scope)
    try:
        yield
    finally:
        _SCOPE.reset(token)


_KEPT: dict[str, KeptTokens] = {}


def kept(integration: str) -> KeptTokens | None:
    """The credentials of an integration whose plugin module has been imported."""
    return _KEPT.get(integration)


class KeptTokens:
    """One integration's credentials. ``from_env`` answers the environment's credentials
    (or None), which win over the keyring; ``from_text`` reads a kept value that is not
    JSON (without it, such a value raises ``ValueError``)."""

    def __init__(
        self,
        integration: str,
        *,
        from_env: Callable[[], dict | None] | None = None,
        from_text: Callable[[str], dict | None] | None = None,
        secret: tuple[str, str] | None = None,
    ):
        self.integration = integration
        self.name = keystore.oauth_name(integration)
        self._from_env = from_env
        self._from_text = from_text
        self._secret = secret  # (keyring name, environment variable) of the app's client secret
        _KEPT[integration] = self

    def stored(self) -> dict | None:
        scope = _SCOPE.get()
        if scope is not None:
            return scope.load(self.integration)
        if self._from_env is not None:
            creds = self._from_env()
            if creds is not None:
                return creds
        raw = keystore.get(self.name, quiet=True)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            if self._from_text is None:
                raise
            return self._from_text(raw)

    def save(self, creds: dict) -> None:
        scope = _SCOPE.get()
        if scope is not None:
            scope.save(self.integration, {**creds, **self._kept_secret(scope)})
            return
        keystore.put(self.name, json.dumps(creds))

    def forget(self) -> bool:
        return keystore.delete(self.name)

    def client_secret(self) -> str | None:
        """The app's client secret: in an organisation's scope the one kept with its
        connection, else the environment's, then the keyring's."""
        scope = _SCOPE.get()
        if scope is not None:
            return (scope.load(self.integration) or {}).get("client_secret")
        return client_secret(*self._secret) if self._secret else None

    def _kept_secret(self, scope: Connections) -> dict:
        # a refreshed document keeps the client secret its connection was given
        secret = (scope.load(self.integration) or {}).get("client_secret")
        return {"client_secret": secret} if secret else {}

    def shareable(self) -> dict | None:
        """This machine's document, with the app's client secret when an OAuth refresh
        needs one: what ``qylon integrations share`` sends to the team server."""
        creds = self.stored()
        if creds is None:
            return None
        creds = {k: v for k, v in creds.items() if k != "env"}
        secret = self.client_secret()
        if secret and creds.get("refresh_token"):
            creds["client_secret"] = secret
        return creds


def client_secret(name: str, env: str) -> str | None:
    """The app's client secret: ``env`` first, then the keyring's ``name``."""
    return keystore.get(name, env=env, quiet=True) or None


def expiring(creds: dict, early_s: float) -> bool:
    """Whether the access token expires within ``early_s`` seconds (or has no expiry)."""
    return float(creds.get("expires_at", 0)) - early_s < time.time()


def refreshed(
    tokens: dict, previous: dict | None, client_id: str, lifetime_s: float, **extra
) -> dict:
    """``{"type": "oauth", ...}`` from a token answer; the previous document's refresh
    token and client id stand in when the answer or the settings have none."""
    previous = previous or {}
    return {
        "type": "oauth",
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token") or previous.get("refresh_token"),
        "expires_at": time.time() + float(tokens.get("expires_in", lifetime_s)),
        "client_id": client_id or previous.get("client_id"),
        **extra,
    }


def post_form(vendor: str, url: str, form: dict, *, timeout: float, auth=None):
    """POST ``form`` to ``vendor``'s token endpoint; a transport failure is ``Unavailable``.
    Answers the response and its JSON body (``{}`` when it is not JSON)."""
    import httpx2

    kwargs = {"auth": auth} if auth is not None else {}
    try:
        answer = httpx2.post(url, data=form, timeout=timeout, **kwargs)
    except httpx2.TransportError as exc:
        raise Unavailable(f"{vendor}'s token endpoint did not answer: {exc}.") from None
    try:
        body = answer.json()
    except ValueError:
        body = {}
    return answer, body
