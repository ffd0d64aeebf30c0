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
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    make_private(path)
    return path


MARKER = ".private"  # present once everything made before in QYLON_HOME was tightened


def make_private(path: Path | None = None) -> None:
    """Keep transcripts and keys from other local users: this process creates files with
    umask 0077 (owner only), QYLON_HOME is 0700, and once per QYLON_HOME everything made
    before this rule (by older versions, or under a looser umask) loses its group and
    other permissions. Called by the CLI, the agent and the server as they start."""
    os.umask(0o077)
    path = path or home()
    if os.name != "posix" or not path.is_dir():
        return
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    marker = path / MARKER
    if marker.exists():
        return
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            item = Path(folder) / name
            mode = item.lstat().st_mode
            if not item.is_symlink() and mode & 0o077:
                item.chmod(mode & 0o700)
    marker.touch()
