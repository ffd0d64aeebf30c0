"""Secrets: the OS keyring, with environment variables for CI.

One place for every secret Qylon keeps: the team server's API key (user = the server
URL), the LLM key (``openai``), and the integrations' OAuth tokens and the device
encryption key (``oauth:<provider>``, ``device-key``). All live under the keyring
service ``qylon``. An environment variable, when the caller names one, wins over the
keyring, so CI needs no keyring at all.
"""

from __future__ import annotations

import os

from .errors import QylonError

SERVICE = "qylon"
LLM_KEY = "openai"
DEVICE_KEY = "device-key"


class NoKeyring(QylonError):
    code = "no_keyring"


def oauth_name(provider: str) -> str:
    """The name an integration's OAuth token is kept under."""
    return f"oauth:{provider}"


def keyring():
    """The usable keyring module; NoKeyring when there is no OS keyring (headless CI)."""
    import keyring as kr
    from keyring.backends.fail import Keyring as FailKeyring

    if isinstance(kr.get_keyring(), FailKeyring):
        raise NoKeyring(
            "No OS keyring is available to store secrets.",
            hint="Set the secret in the environment instead (e.g. QYLON_SERVER and QYLON_TOKEN in CI).",
        )
    return kr


def get(name: str, *, env: str | None = None, quiet: bool = False) -> str | None:
    """The secret ``name``: the environment variable ``env`` when set, else the keyring.

    ``quiet`` turns a missing or failing keyring into None (for optional secrets)."""
    if env and os.environ.get(env):
        return os.environ[env].strip()
    try:
        return keyring().get_password(SERVICE, name)
    except Exception:
        if quiet:
            return None
        raise


def put(name: str, value: str) -> None:
    keyring().set_password(SERVICE, name, value)


def delete(name: str) -> bool:
    """Remove the secret; True when one was stored."""
    from keyring.errors import PasswordDeleteError

    try:
        keyring().delete_password(SERVICE, name)
    except (PasswordDeleteError, NoKeyring):
        return False
    return True
