"""The sealed container: AES-256-GCM (``cryptography``'s AESGCM) in a small documented format.

A sealed blob (a wrapped key, a sealed file)::

    magic    4 bytes  b"QYLN"
    version  1 byte   1
    kind     1 byte   1 = blob, 2 = stream (sealed audio, see ``crypto.stream``)
    key id   16 bytes the id of the key that sealed it (a data key's, or the install key's)
    nonce    12 bytes random, never reused with a key (one per seal)
    sealed   the ciphertext followed by GCM's 16-byte tag

The 22-byte header (magic to key id) and a caller's ``context`` (what the blob is, e.g.
``data-key:<name>``) are authenticated as associated data, so a blob cannot be passed
off as another or moved to another place unnoticed. A wrong key, a changed byte or a
blob in the wrong place fails with ``Undecryptable``.
"""

from __future__ import annotations

import os
import struct
import uuid

from qylon_cli.errors import QylonError

MAGIC = b"QYLN"
VERSION = 1
BLOB, STREAM = 1, 2
HEADER = struct.Struct("<4sBB16s")  # magic, version, kind, key id
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32


class Undecryptable(QylonError):
    """Sealed data that this key cannot open: wrong key, tampered or damaged."""

    exit_code = 4
    code = "undecryptable"


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def new_key_id() -> bytes:
    return uuid.uuid4().bytes


def header(kind: int, key_id: bytes) -> bytes:
    return HEADER.pack(MAGIC, VERSION, kind, key_id)


def parse_header(data: bytes, what: str = "the data") -> tuple[int, bytes]:
    """(kind, key id) of a sealed header; Undecryptable when it is not one."""
    if len(data) < HEADER.size or data[:4] != MAGIC:
        raise Undecryptable(f"{what} is not sealed by Qylon (no QYLN header).")
    _, version, kind, key_id = HEADER.unpack_from(data)
    if version != VERSION:
        raise Undecryptable(
            f"{what} is sealed in container version {version}; this Qylon reads version {VERSION}.",
            hint="Update Qylon.",
        )
    return kind, key_id


def is_sealed(data: bytes) -> bool:
    return data[:4] == MAGIC


def _aead(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def seal(key: bytes, key_id: bytes, plaintext: bytes, context: str = "") -> bytes:
    head = header(BLOB, key_id)
    nonce = os.urandom(NONCE_BYTES)
    return head + nonce + _aead(key).encrypt(nonce, plaintext, head + context.encode())


def key_id_of(blob: bytes, what: str = "the data") -> bytes:
    return parse_header(blob, what)[1]


def open_sealed(key: bytes, blob: bytes, context: str = "", what: str = "the data") -> bytes:
    from cryptography.exceptions import InvalidTag

    kind, _ = parse_header(blob, what)
    if kind != BLOB:
        raise Undecryptable(f"{what} is a sealed stream, not a sealed blob.")
    head, nonce = blob[: HEADER.size], blob[HEADER.size : HEADER.size + NONCE_BYTES]
    try:
        return _aead(key).decrypt(nonce, blob[HEADER.size + NONCE_BYTES :], head + context.encode())
    except InvalidTag:
        raise Undecryptable(
            f"{what} cannot be opened with this key: the wrong key, or the data was changed."
        ) from None
