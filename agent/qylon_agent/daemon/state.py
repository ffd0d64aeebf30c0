"""Where the daemon keeps its socket, lock and log, and the single-instance lock.

One daemon per QYLON_HOME: an exclusive lock on ``agent/agent.lock`` (``qylon_agent.locks``),
held for the daemon's lifetime. The operating system releases it when the process dies
however it dies, so a lock file left by a dead daemon is simply taken over by the next one.
The running daemon's pid, start time and version are in ``agent/agent.lock.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qylon_cli import paths

from ..locks import ProcessLock


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


def holder(path: Path) -> dict | None:
    """The running daemon's lock info ({pid, started_at, ...}), or None when none runs."""
    return ProcessLock(path).holder()
