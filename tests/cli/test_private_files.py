"""Transcripts, keys and databases are readable by their owner only (issue 16): QYLON_HOME
0700, files made with umask 0077 by the CLI, agent and server, and files made before
tightened once."""

from __future__ import annotations

import os
import stat
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def loose(path) -> list[str]:
    """Everything under ``path`` (itself included) that a group or others may use."""
    found = [str(path)] if path.stat().st_mode & 0o077 else []
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            item = os.path.join(folder, name)
            if os.lstat(item).st_mode & 0o077:
                found.append(f"{item} {stat.filemode(os.lstat(item).st_mode)}")
    return found


def test_files_made_before_are_tightened_once(qylon, qylon_home):
    os.umask(0o022)
    (qylon_home / "recordings" / "m1").mkdir(parents=True, mode=0o755)
    for name in ("qylon.db", "qylon.db-wal", "recordings/m1/audio.wav"):
        (qylon_home / name).write_text("confidential")
        (qylon_home / name).chmod(0o644)
    qylon_home.chmod(0o755)
    assert qylon("config", "show", "--json").code == 0
    assert loose(qylon_home) == []
    assert stat.S_IMODE(qylon_home.stat().st_mode) == 0o700
    assert (
        stat.S_IMODE((qylon_home / "qylon.db").stat().st_mode) == 0o600
    )  # the owner keeps read and write


def test_new_home_store_and_server_database_are_private(qylon, qylon_home):
    os.umask(0o022)  # what most shells have: the commands must not rely on it
    assert not qylon_home.exists()
    assert qylon("meeting", "list", "--json").code == 0
    assert qylon("server", "migrate", "--json").code == 0
    assert (qylon_home / "server.db").exists()
    assert loose(qylon_home) == []
    assert stat.S_IMODE(qylon_home.stat().st_mode) == 0o700
