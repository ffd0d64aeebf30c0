"""Where the CLI finds the server and its API key.

``QYLON_SERVER`` + ``QYLON_TOKEN`` win (CI: no keyring needed). Otherwise the server
URL comes from the user's config (``server.url``, written by `qylon auth login`) and
the key from the OS keyring (service ``qylon``, user = the server URL), or from the
private credentials file on a machine without one (see ``keystore``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import keystore
from .errors import NotAuthenticated
from .keystore import NoKeyring


@dataclass
class Credentials:
    server: str
    token: str
    source: str  # "env", "keyring" or the credentials file's path


def normalise(url: str) -> str:
    from .errors import InvalidInput

    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(
            f"{url!r} is not a server URL.", hint="Give it as https://qylon.example.com"
        )
    return url


def stored_server() -> str | None:
    from . import settings

    url = settings.load().get("server.url")
    return url or None


def resolve() -> Credentials:
    env_server, env_token = os.environ.get("QYLON_SERVER"), os.environ.get("QYLON_TOKEN")
    if env_token:
        server = env_server or stored_server()
        if not server:
            raise NotAuthenticated(
                "QYLON_TOKEN is set but QYLON_SERVER is not.", hint="Set QYLON_SERVER too."
            )
        return Credentials(normalise(server), env_token.strip(), "env")
    server = env_server or stored_server()
    hint = "Run `qylon auth login --server URL`, or set QYLON_SERVER and QYLON_TOKEN."
    if not server:
        raise NotAuthenticated("Not logged in to a Qylon server.", hint=hint)
    server = normalise(server)
    try:
        token, where = keystore.find(server)
    except NoKeyring as exc:
        raise NotAuthenticated(f"No API key for {server}: {exc}", hint=hint) from None
    if not token:
        raise NotAuthenticated(f"No API key stored for {server}.", hint=hint)
    return Credentials(server, token, where)


def save(server: str, token: str, *, insecure: bool = False) -> str:
    """Keep the key; returns where ("keyring" or the credentials file's path)."""
    from . import settings

    keystore.put(server, token)
    stored = settings.load()
    stored.set("server.url", server)
    if insecure or stored.get("server.insecure", False):
        stored.set("server.insecure", insecure)
    return keystore.where()


def forget(server: str) -> bool:
    """Remove the stored key and server URL; True when a key was stored."""
    from . import settings

    removed = keystore.delete(server)
    settings.load().unset("server.url")
    return removed
