"""Secrets the server keeps and must read back (webhook signing secrets, an organisation's
integration connections) are sealed with Fernet (AES-128-CBC + HMAC-SHA256, from
``cryptography``) under a key derived from the server's secret (``QYLON_SECRET_KEY``, or
the generated ``server-secret`` file) and the secret's purpose, so a key leaked for one
purpose opens nothing else. A copy of the database alone reveals none of them."""

from __future__ import annotations

import base64
import hashlib
import hmac


class Broken(ValueError):
    """The sealed text was not sealed under this server's secret (or was altered)."""


def _fernet(pepper: bytes, purpose: bytes):
    from cryptography.fernet import Fernet

    key = hmac.new(pepper, purpose, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str, pepper: bytes, purpose: bytes) -> str:
    return _fernet(pepper, purpose).encrypt(text.encode()).decode()


def unseal(sealed: str, pepper: bytes, purpose: bytes) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(pepper, purpose).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise Broken("sealed under another server secret, or altered") from None
