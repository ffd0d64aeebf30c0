"""Where the daemon keeps its socket, lock and log, and the single-instance lock.

One daemon per QYLON_HOME: an exclusive ``flock`` on ``agent/agent.lock``, held for
the daemon's lifetime. The kernel releases it when the process dies however it dies,
so a lock file left by a dead daemon is simply taken over by the next one.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from qylon_cli import paths


@dataclass(frozen=True)
class AgentPaths:
    root: Path

    @property
    def socket(self) -> Path:
        return self.root / "agent.sock"

    @property
    def lock(self) -> Path:
        return self.root / "agent.lock"

    @property
    def log(self) -> Path:
        return self.root / "agent.log"


def agent_paths() -> AgentPaths:
    root = paths.ensure_home() / "agent"
    root.mkdir(mode=0o700, exist_ok=True)
    os.chmod(root, 0o700)  # the socket's folder: only this user may even look inside
    return AgentPaths(root)


class InstanceLock:
    """The single-instance lock; ``acquire`` returns False when another daemon holds it."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = None

    def acquire(self, info: dict) -> bool:
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for the daemon's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(info))
        fh.flush()
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def holder(path: Path) -> dict | None:
    """The running daemon's lock info ({pid, started_at, ...}), or None when none runs."""
    if not path.exists():
        return None
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                return json.loads(fh.read() or "{}")
            except json.JSONDecodeError:
                return {}
        fcntl.flock(fh, fcntl.LOCK_UN)
        return None
