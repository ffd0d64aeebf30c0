"""Where Qylon keeps things. ``QYLON_HOME`` moves everything (data and config)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The user-data folder: ``QYLON_HOME`` or the platform's data dir."""
    env = os.environ.get("QYLON_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("qylon", appauthor=False))


def config_file() -> Path:
    """The user's config file: ``$QYLON_HOME/config.toml`` or the platform's config dir."""
    if os.environ.get("QYLON_HOME"):
        return home() / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir("qylon", appauthor=False)) / "config.toml"


def ensure_home() -> Path:
    path = home()
    path.mkdir(parents=True, exist_ok=True)
    return path
