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


MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


def _folder_model(settings: Settings, key: str, value: Any) -> None:
    path = Path(str(value)).expanduser()
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        what = "does not exist" if not path.exists() else f"has no {', '.join(missing)}"
        raise InvalidInput(
            f"{key}: {value} {what}; a model is a CTranslate2 Whisper folder "
            f"({', '.join(MODEL_FILES)}).",
            hint="Convert one with ct2-transformers-converter --copy_files tokenizer.json, "
            "or use a faster-whisper model folder.",
        )


def _transcribe_model(settings: Settings, key: str, value: Any) -> None:
    """The bundled model (the shipped default), a name declared under [models], or a folder."""
    if value == settings.defaults.get(key) or f"models.{value}" in settings.user:
        return
    if "/" in str(value) or str(value).startswith(("~", ".")):
        _folder_model(settings, key, value)
        return
    raise InvalidInput(
        f"{key}: {value!r} is not the bundled {settings.defaults.get(key)}, not a name in "
        "[models], and not a model folder.",
        hint=f"Declare it first: qylon config set models.{value} /path/to/ctranslate2-model",
    )


def _one_of(*choices: str):
    def check(settings: Settings, key: str, value: Any) -> None:
        if value not in choices:
            raise InvalidInput(f"{key} must be one of {', '.join(choices)}; not {value!r}.")

    return check


def _names(settings: Settings, key: str, value: Any) -> None:
    import re

    if value and not re.fullmatch(r"[a-z][a-z0-9_-]*(\s*,\s*[a-z][a-z0-9_-]*)*", str(value)):
        raise InvalidInput(
            f"{key} must be names separated by commas (e.g. hubspot), not {value!r}."
        )


def _url(settings: Settings, key: str, value: Any) -> None:
    if value and not str(value).startswith(("http://", "https://")):
        raise InvalidInput(f"{key} must be an http:// or https:// URL, not {value!r}.")


def _at_least(low: float, high: float | None = None):
    def check(settings: Settings, key: str, value: Any) -> None:
        if value < low or (high is not None and value > high):
            limits = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise InvalidInput(f"{key} must be {limits}, not {value!r}.")

    return check


# What `config set` checks beyond the type, so that a bad value is refused when it is set
# rather than reported later by the command that reads it. "models.*" covers every name.
CHECKS: dict[str, Any] = {
    "models.*": _folder_model,
    "transcribe.model": _transcribe_model,
    "transcribe.device": _one_of("cpu", "cuda", "auto"),
    "transcribe.compute_type": _one_of(
        "default",
        "auto",
        "int8",
        "int8_float32",
        "int8_float16",
        "int8_bfloat16",
        "int16",
        "float16",
        "bfloat16",
        "float32",
    ),
    "transcribe.beam_size": _at_least(1, 20),
    "transcribe.threads": _at_least(0),
    "transcribe.batched": _one_of("auto", "true", "false"),
    "transcribe.batched_after_s": _at_least(0),
    "llm.base_url": _url,
    "server.url": _url,
    "agent.concurrency": _at_least(1),
    "agent.auto_record": _one_of("off", "detect", "calendar", "true", "false"),
    "agent.auto_push": _names,
    "speakers.match_threshold": _at_least(0.0, 1.0),
    "privacy.key_source": _one_of("auto", "keyring", "passphrase"),
    "privacy.keep_audio_days": _at_least(0),
    "privacy.keep_transcripts_days": _at_least(0),
}


def check(settings: Settings, key: str, value: Any) -> None:
    """Refuse a value that the setting cannot hold (InvalidInput naming key and value)."""
    rule = CHECKS.get(key) or CHECKS.get(key.split(".", 1)[0] + ".*")
    if rule is not None:
        rule(settings, key, value)


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
        """Every key: shipped, in the user's file, or declared by a plugin (a key declared
        with a type and no default shows as unset)."""
        keys = sorted(set(self.defaults) | set(self.user) | set(plugin_keys()))
        return [self._lookup_or_unset(k) for k in keys]

    def _lookup_or_unset(self, key: str) -> Value:
        try:
            return self.lookup(key)
        except NotFound:
            return Value(key, None, "unset")

    def set(self, key: str, raw: str) -> Value:
        if not self.known(key):
            raise InvalidInput(
                f"Unknown setting {key!r}.", hint="`qylon config show` lists every key."
            )
        value = _coerce(key, raw, self.like(key))
        check(self, key, value)
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


def section(cls, prefix: str, **given: Any):
    """An integration's settings dataclass ``cls`` from the ``prefix.*`` settings: each
    field read as its annotated type (``str``, ``int``, ``float``; a missing string is
    ""), an address (``*_base``, ``*_url``, ``authority``) without its trailing slash;
    ``given`` for fields that need more than that."""
    from dataclasses import fields

    current = load()
    made = {"int": int, "float": float}
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in given:
            continue
        raw = current.get(f"{prefix}.{f.name}")
        make = made.get(str(f.type))
        value = make(raw) if make else str(raw if raw is not None else "")
        if isinstance(value, str) and f.name.endswith(("_base", "_url", "authority")):
            value = value.rstrip("/")
        values[f.name] = value
    return cls(**values, **given)


def load() -> Settings:
    return Settings()
