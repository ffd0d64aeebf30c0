"""Secrets: the OS keyring, a private file where there is none, environment variables for CI.

One place for every secret Qylon keeps: the team server's API key (user = the server
URL), the LLM key (``openai``), and the integrations' OAuth tokens and the device
encryption key (``oauth:<provider>``, ``device-key``). All live under the keyring
service ``qylon``. On a machine without an OS keyring (a server, a container, WSL, an
SSH session) they go to ``credentials.json`` beside the config file, readable by its
owner only, as gh keeps ``hosts.yml``. An environment variable, when the caller names
one, wins over both, so CI needs neither.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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


def has_keyring() -> bool:
    try:
        keyring()
    except NoKeyring:
        return False
    return True


def file_path() -> Path:
    """Where secrets are kept when there is no OS keyring."""
    from . import paths

    return paths.config_file().parent / "credentials.json"


def where() -> str:
    """Where ``put`` keeps a secret now: "keyring", or the private file's path."""
    return "keyring" if has_keyring() else str(file_path())


def check_writable() -> None:
    """NoKeyring, before a secret is asked for or sent anywhere, when it could not be kept."""
    if has_keyring():
        return
    folder = file_path().parent
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        raise NoKeyring(
            f"No OS keyring is available, and {folder} cannot be written to keep secrets in a file.",
            hint="Set the secret in the environment instead (e.g. QYLON_SERVER and QYLON_TOKEN in CI).",
        )


def _read_file() -> dict[str, str]:
    path = file_path()
    try:
        stored = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise NoKeyring(
            f"The credentials file {path} cannot be read: {exc}.",
            hint="Fix or delete it, then log in again.",
        ) from None
    return dict(stored.get(SERVICE, {})) if isinstance(stored, dict) else {}


def _write_file(secrets: dict[str, str]) -> None:
    """Replace the file atomically; it is created owner-only (0600) and never widened."""
    path = file_path()
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({SERVICE: secrets}, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def get(name: str, *, env: str | None = None, quiet: bool = False) -> str | None:
    """The secret ``name``: the environment variable ``env`` when set, else the keyring, else
    the private file.

    ``quiet`` turns an unreadable store into None (for optional secrets)."""
    if env and os.environ.get(env):
        return os.environ[env].strip()
    try:
        return find(name)[0]
    except Exception:
        if quiet:
            return None
        raise


def find(name: str) -> tuple[str | None, str]:
    """The stored secret and where it was found ("keyring" or the file's path)."""
    if has_keyring():
        found = keyring().get_password(SERVICE, name)
        if found is not None:
            return found, "keyring"
    return _read_file().get(name), str(file_path())


def put(name: str, value: str) -> None:
    if has_keyring():
        keyring().set_password(SERVICE, name, value)
        return
    check_writable()
    _write_file({**_read_file(), name: value})


def delete(name: str) -> bool:
    """Remove the secret (from the keyring and the file); True when one was stored."""
    from keyring.errors import PasswordDeleteError

    removed = False
    try:
        keyring().delete_password(SERVICE, name)
        removed = True
    except (PasswordDeleteError, NoKeyring):
        pass
    secrets = _read_file() if file_path().exists() else {}
    if name in secrets:
        del secrets[name]
        _write_file(secrets)
        removed = True
    return removed
