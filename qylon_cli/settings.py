"""Settings: flag > ``QYLON_<SECTION>_<KEY>`` env > user config file > shipped defaults.

Keys are dotted (``transcribe.model``). The shipped defaults are ``config/qylon.toml``
(packaged as ``qylon_cli/defaults/qylon.toml``); the user file is TOML too and is
written with tomlkit so comments survive ``qylon config set``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from . import paths
from .errors import InvalidInput, NotFound


def shipped_file(name: str) -> str:
    """A file from the shipped ``config/`` folder (packaged as ``qylon_cli/defaults``)."""
    packaged = resources.files("qylon_cli").joinpath("defaults", *name.split("/"))
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # Editable install: read the file at the top of the source tree.
    return (Path(__file__).resolve().parents[1] / "config" / name).read_text("utf-8")


def _defaults_text() -> str:
    return shipped_file("qylon.toml")


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def env_name(key: str) -> str:
    return "QYLON_" + key.replace(".", "_").replace("-", "_").upper()


def _coerce(key: str, raw: str, like: Any) -> Any:
    """Turn a string (from env or the command line) into the type of the default."""
    if isinstance(like, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise InvalidInput(f"{key} must be true or false, not {raw!r}")
    if isinstance(like, int):
        try:
            return int(raw)
        except ValueError:
            raise InvalidInput(f"{key} must be a whole number, not {raw!r}") from None
    if isinstance(like, float):
        try:
            return float(raw)
        except ValueError:
            raise InvalidInput(f"{key} must be a number, not {raw!r}") from None
    return raw


@dataclass
class Value:
    key: str
    value: Any
    source: str  # "default", "config", "env"


class Settings:
    """The merged view of defaults, the user's file and the environment."""

    def __init__(self) -> None:
        self.defaults = _flatten(tomllib.loads(_defaults_text()))
        self.file = paths.config_file()
        self.user = self._read_user()

    def _read_user(self) -> dict[str, Any]:
        if not self.file.exists():
            return {}
        try:
            return _flatten(tomllib.loads(self.file.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(
                f"The config file {self.file} is not valid TOML: {exc}",
                hint="Fix or remove it; `qylon config path` prints where it is.",
            ) from None

    def known(self, key: str) -> bool:
        section = key.split(".", 1)[0]
        return (
            key in self.defaults
            or section in ("models", "vocabulary")
            or key in self.user
            or key in plugin_keys()
        )

    def like(self, key: str) -> Any:
        """A value of the key's type: its shipped default, or a plugin's declared type."""
        if key in self.defaults:
            return self.defaults[key]
        declared = plugin_keys().get(key)
        if declared is not None:
            return declared() if isinstance(declared, type) else declared
        return self.user.get(key, "")

    def lookup(self, key: str) -> Value:
        env = os.environ.get(env_name(key))
        if env is not None:
            return Value(key, _coerce(key, env, self.like(key)), "env")
        if key in self.user:
            return Value(key, self.user[key], "config")
        if key in self.defaults:
            return Value(key, self.defaults[key], "default")
        declared = plugin_keys().get(key)
        if declared is not None and not isinstance(declared, type):
            return Value(key, declared, "default")
        raise NotFound(f"No setting named {key!r}.", hint="`qylon config show` lists every key.")

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self.lookup(key).value
        except NotFound:
            return default

    def all(self) -> list[Value]:
        keys = sorted(set(self.defaults) | set(self.user))
        return [self.lookup(k) for k in keys]

    def set(self, key: str, raw: str) -> Value:
        if not self.known(key):
            raise InvalidInput(
                f"Unknown setting {key!r}.", hint="`qylon config show` lists every key."
            )
        value = _coerce(key, raw, self.like(key))
        self._write(key, value)
        return Value(key, value, "config")

    def unset(self, key: str) -> None:
        self._write(key, None)

    def _write(self, key: str, value: Any) -> None:
        import tomlkit

        doc = (
            tomlkit.parse(self.file.read_text("utf-8"))
            if self.file.exists()
            else tomlkit.document()
        )
        *sections, leaf = key.split(".")
        table = doc
        for section in sections:
            if section not in table:
                if value is None:
                    return
                table[section] = tomlkit.table()
            table = table[section]
        if value is None:
            table.pop(leaf, None)
        else:
            table[leaf] = value
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
        tmp.replace(self.file)
        self.user = self._read_user()


def plugin_keys() -> dict[str, Any]:
    """The keys plugins declare (``hubspot.portal_id``), each with its type or default."""
    from . import plugins

    keys: dict[str, Any] = {}
    for section, entry in plugins.settings_sections().items():
        for name, declared in entry.target.items():
            keys[f"{section}.{name}"] = declared
    return keys


def load() -> Settings:
    return Settings()
