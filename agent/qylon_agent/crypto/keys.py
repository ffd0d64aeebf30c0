"""The keys: one install key, and data keys wrapped by it (envelope encryption).

The **install key** (256 bits, random) never touches the disk in the clear. It is kept
in the OS keyring (through ``qylon_cli.keystore``, name ``device-key``), or, where there
is no keyring (headless Linux) or ``privacy.key_source = "passphrase"``, in
``keys.json`` sealed by a key derived from a passphrase with scrypt (n=2^15, r=8, p=1).
The passphrase comes from ``QYLON_PASSPHRASE``, else a prompt on a terminal.

The **data keys** (256 bits, random): ``store`` (the SQLCipher store) and one per
meeting, ``meeting:<id>`` (its recorded audio and auto-exports). Each is kept in
``QYLON_HOME/keys.json`` sealed by the install key (container context
``data-key:<name>``). Rotating the install key re-seals the data keys only; destroying a
data key (``drop``) crypto-erases what it sealed.

``keys.json`` (replaced atomically)::

    {"version": 1, "source": "keyring" | "passphrase", "install_key_id": "<32 hex>",
     "passphrase": {"kdf": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<b64>",
                    "sealed_key": "<b64 container>"},          # passphrase source only
     "data_keys": {"store": "<b64 container>", "meeting:<id>": "<b64 container>"}}
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from qylon_cli import keystore, paths
from qylon_cli.errors import InvalidInput, NotAuthenticated, NotFound, QylonError

from . import container

FILE = "keys.json"
STORE = "store"  # the data key of the SQLCipher store
STORE_NEXT = "store.next"  # its replacement while the store is being re-keyed
PASSPHRASE_ENV = "QYLON_PASSPHRASE"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
EXPORT_PREFIX = "qylon-install-key-v1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def keys_path() -> Path:
    return paths.home() / FILE


def enabled(settings=None) -> bool:
    if settings is None:
        from qylon_cli import settings as settings_mod

        settings = settings_mod.load()
    return bool(settings.get("privacy.encrypt", False))


def _scrypt(passphrase: str, salt: bytes, params: dict) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(
        passphrase.encode()
    )


def _passphrase(*, confirm: bool) -> str:
    given = os.environ.get(PASSPHRASE_ENV)
    if given:
        return given
    from qylon_cli import output

    if not output.interactive():  # --json, CI, or no terminal: never prompt
        raise NotAuthenticated(
            "Encryption is on and this machine has no OS keyring: the new install key needs "
            "a passphrase, and none was given."
            if confirm
            else "The install key is protected by a passphrase, and none was given.",
            hint=f"Set {PASSPHRASE_ENV} (e.g. from your password manager) or run it on a terminal.",
            code="passphrase_required",
        )
    first = getpass.getpass("Qylon passphrase: ")
    if confirm and getpass.getpass("The same passphrase again: ") != first:
        raise InvalidInput("The two passphrases differ.", code="passphrase_mismatch")
    if confirm and len(first) < 8:
        raise InvalidInput("A passphrase needs at least 8 characters.", code="passphrase_short")
    return first


def _wanted_source(settings) -> str:
    chosen = settings.get("privacy.key_source", "auto") if settings is not None else "auto"
    if chosen == "auto":
        return "keyring" if keystore.has_keyring() else "passphrase"
    if chosen == "keyring" and not keystore.has_keyring():
        raise NotAuthenticated(
            "privacy.key_source is keyring, but this machine has no OS keyring.",
            hint="Use a passphrase: qylon config set privacy.key_source passphrase",
            code="no_keyring",
        )
    return chosen


def _keyring_update(add: dict[str, str], drop: str | None = None) -> None:
    """The keyring's ``device-key`` holds the install keys by id (one per QYLON_HOME that
    uses the keyring: several homes on one machine do not overwrite each other's)."""
    stored = keystore.get(keystore.DEVICE_KEY)
    kept = json.loads(stored) if stored else {}
    kept.update(add)
    if drop:
        kept.pop(drop, None)
    keystore.put(keystore.DEVICE_KEY, json.dumps(kept))


# One unlock per process (scrypt takes a tenth of a second; the daemon opens the store often).
_UNLOCKED: dict[tuple[str, str], bytes] = {}


@dataclass
class Keys:
    """keys.json, and the install key once unlocked."""

    path: Path
    doc: dict
    install_key: bytes | None = field(default=None, repr=False)

    # -- opening ---------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | None = None) -> Keys | None:
        path = path or keys_path()
        try:
            doc = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise QylonError(
                f"{path} is damaged ({exc}); the encrypted data cannot be opened without it.",
                hint="Restore it from a backup of QYLON_HOME.",
                code="keys_damaged",
            ) from None
        return cls(path, doc)

    @classmethod
    def create(cls, settings=None, path: Path | None = None) -> Keys:
        """A new install key (in the keyring, or behind a passphrase) and an empty keys.json."""
        source = _wanted_source(settings)
        keys = cls(path or keys_path(), {"version": 1, "source": source, "data_keys": {}})
        keys._set_install_key(container.new_key_id(), container.new_key(), passphrase=None)
        return keys

    @classmethod
    def load_or_create(cls, settings=None) -> Keys:
        from filelock import FileLock

        found = cls.load()
        if found is not None:
            return found
        path = keys_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):  # two processes starting at once make one key
            return cls.load() or cls.create(settings)

    @property
    def source(self) -> str:
        return self.doc["source"]

    @property
    def install_key_id(self) -> str:
        return self.doc["install_key_id"]

    def unlock(self) -> bytes:
        if self.install_key is not None:
            return self.install_key
        cached = _UNLOCKED.get((str(self.path), self.install_key_id))
        if cached is not None:
            self.install_key = cached
            return cached
        if self.source == "passphrase":
            key = self._from_passphrase(_passphrase(confirm=False))
        else:
            key = self._from_keyring()
        _UNLOCKED[(str(self.path), self.install_key_id)] = self.install_key = key
        return key

    def _from_passphrase(self, passphrase: str) -> bytes:
        kept = self.doc["passphrase"]
        wrapping = _scrypt(passphrase, _unb64(kept["salt"]), kept)
        try:
            return container.open_sealed(
                wrapping, _unb64(kept["sealed_key"]), "install-key", "the install key"
            )
        except container.Undecryptable:
            raise NotAuthenticated(
                "Wrong passphrase: the install key cannot be opened with it.",
                hint=f"Check {PASSPHRASE_ENV}; a lost passphrase can be replaced by "
                "`qylon privacy import-key` from an exported key.",
                code="wrong_passphrase",
            ) from None

    def _from_keyring(self) -> bytes:
        try:
            stored = keystore.get(keystore.DEVICE_KEY)
        except keystore.NoKeyring as exc:
            raise NotAuthenticated(str(exc), hint=exc.hint, code="no_keyring") from None
        kept = json.loads(stored) if stored else {}
        key = kept.get(self.install_key_id)
        if key is None:
            raise NotAuthenticated(
                f"The install key {self.install_key_id[:8]} is not in the OS keyring; the "
                "encrypted meetings cannot be opened.",
                hint="Restore it with `qylon privacy import-key FILE` from an exported key.",
                code="install_key_missing",
            )
        return _unb64(key)

    # -- the install key ---------------------------------------------------------
    def _set_install_key(self, key_id: bytes, key: bytes, *, passphrase: str | None) -> None:
        """Make ``key`` the install key: re-seal every data key with it, keep it, save."""
        old_id = self.doc.get("install_key_id")
        data = {name: self.data_key(name) for name in self.doc["data_keys"]} if old_id else {}
        new_id = key_id.hex()
        if self.source == "keyring":
            # Both keys are kept until keys.json names the new one: a crash in between
            # leaves a store that opens with either file.
            _keyring_update({new_id: _b64(key)})
        else:
            salt = os.urandom(16)
            wrapping = _scrypt(passphrase or _passphrase(confirm=old_id is None), salt, SCRYPT)
            self.doc["passphrase"] = {
                "kdf": "scrypt",
                **SCRYPT,
                "salt": _b64(salt),
                "sealed_key": _b64(container.seal(wrapping, key_id, key, "install-key")),
            }
        self.doc["install_key_id"] = new_id
        self.install_key = key
        self.doc["data_keys"] = {name: _b64(self._wrap(name, *pair)) for name, pair in data.items()}
        self.save()
        _UNLOCKED[(str(self.path), new_id)] = key
        if self.source == "keyring" and old_id and old_id != new_id:
            _keyring_update({}, drop=old_id)  # the old install key is destroyed

    def rotate(self) -> str:
        """A new install key; the data keys are re-sealed with it (the data is untouched).
        The old install key is destroyed. Returns the new key's id."""
        passphrase = _passphrase(confirm=False) if self.source == "passphrase" else None
        with self.locked():
            self.install_key = None
            self.unlock()
            self._set_install_key(
                container.new_key_id(), container.new_key(), passphrase=passphrase
            )
        return self.install_key_id

    def export(self) -> str:
        """The install key as one line of text (keep it offline: it opens everything)."""
        return f"{EXPORT_PREFIX}:{self.install_key_id}:{_b64(self.unlock())}"

    def import_key(self, text: str) -> str:
        """Take an exported install key: check it opens the data keys, keep it as this
        install's (in the keyring, or behind the passphrase). Returns its id."""
        try:
            prefix, key_id, key_b64 = text.strip().split(":")
            key = _unb64(key_b64)
            if prefix != EXPORT_PREFIX or len(key) != container.KEY_BYTES:
                raise ValueError
        except ValueError:
            raise InvalidInput(
                f"Not an exported Qylon install key (expected {EXPORT_PREFIX}:ID:KEY).",
                code="invalid_key",
            ) from None
        if key_id != self.install_key_id:
            raise InvalidInput(
                f"This key ({key_id[:8]}) is not the one this install's data is sealed with "
                f"({self.install_key_id[:8]}).",
                hint="Export the key again after the last `qylon privacy rotate-key`.",
                code="wrong_key",
            )
        self.install_key = key
        for name in self.doc["data_keys"]:
            self.data_key(name)  # Undecryptable if it does not open them
        if self.source == "keyring":
            _keyring_update({key_id: key_b64})
        else:
            self._set_install_key(bytes.fromhex(key_id), key, passphrase=None)
        _UNLOCKED[(str(self.path), key_id)] = key
        return key_id

    # -- data keys --------------------------------------------------------------
    def _wrap(self, name: str, key_id: bytes, key: bytes) -> bytes:
        return container.seal(
            self.unlock(), bytes.fromhex(self.install_key_id), key_id + key, f"data-key:{name}"
        )

    def seal_data_key(self, name: str, key_id: bytes, key: bytes) -> str:
        return _b64(self._wrap(name, key_id, key))

    def has(self, name: str) -> bool:
        return name in self.doc["data_keys"]

    def names(self) -> list[str]:
        return sorted(self.doc["data_keys"])

    def data_key(self, name: str, *, create: bool = False) -> tuple[bytes, bytes]:
        """(key id, key) of the data key ``name``; a new one when ``create`` and none exists."""
        sealed = self.doc["data_keys"].get(name)
        if sealed is None and create:
            with self.locked():  # another process may have added it, or other keys
                sealed = self.doc["data_keys"].get(name)
                if sealed is None:
                    key_id, key = container.new_key_id(), container.new_key()
                    self.doc["data_keys"][name] = _b64(self._wrap(name, key_id, key))
                    self.save()
                    return key_id, key
        if sealed is None:
            raise NotFound(
                f"No data key {name!r}: what it sealed was forgotten (crypto-erased) or never sealed.",
                code="key_destroyed",
            )
        blob = _unb64(sealed)
        if container.key_id_of(blob).hex() != self.install_key_id:
            raise container.Undecryptable(
                f"The data key {name!r} is sealed by another install key."
            )
        plain = container.open_sealed(self.unlock(), blob, f"data-key:{name}", f"data key {name!r}")
        return plain[:16], plain[16:]

    def find_key(self, key_id: bytes) -> bytes:
        """The data key with this id (for a sealed file, which names its key by id)."""
        for name in self.doc["data_keys"]:
            found_id, key = self.data_key(name)
            if found_id == key_id:
                return key
        raise container.Undecryptable(
            f"The key {key_id.hex()[:8]} that sealed this data no longer exists (it was forgotten).",
            code="key_destroyed",
        )

    def drop(self, name: str) -> bool:
        """Destroy the data key ``name`` (crypto-erase); True when there was one."""
        with self.locked():
            removed = self.doc["data_keys"].pop(name, None) is not None
            if removed:
                self.save()
        return removed

    @contextlib.contextmanager
    def locked(self):
        """Hold keys.json against other processes and re-read it: a change made inside
        starts from what is on disk, not from what this process read earlier."""
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock"):
            if self.path.exists():
                self.doc = json.loads(self.path.read_text("utf-8"))
            yield

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.doc, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, self.path)


def meeting_key_name(meeting_id: str) -> str:
    return f"meeting:{meeting_id}"
