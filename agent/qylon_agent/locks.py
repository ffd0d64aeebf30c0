"""The agent's one kind of file lock: held by one process at a time, and released by the
operating system when that process dies, however it dies (``filelock``: ``flock`` on Unix,
``msvcrt.locking`` on Windows). A lock file left by a dead process is simply taken over.

Used for the daemon's single-instance lock (``agent/agent.lock``) and for a recording that
is being written (``recordings/<id>/recording.lock``). What the holder wants others to
see (the daemon's pid, start time and version) goes in a sidecar file beside the lock,
``<lock>.json``: the lock file itself is opened afresh by every process that tries it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from filelock import FileLock, Timeout


class ProcessLock:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.sidecar = self.path.with_name(self.path.name + ".json")
        self._lock = FileLock(self.path, mode=0o600, thread_local=False)

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._lock.is_locked

    def acquire(self, info: dict | None = None) -> bool:
        """Take the lock without waiting; False when another process (or object) holds it.
        ``info`` is written to the sidecar for :meth:`holder` to read."""
        if self.held:
            return True
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        if info is not None:
            tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
            tmp.write_text(json.dumps(info), encoding="utf-8")
            os.replace(tmp, self.sidecar)
        return True

    def release(self) -> None:
        if self.held:
            self._lock.release(force=True)

    def held_elsewhere(self) -> bool:
        """True when someone else holds the lock right now (tried, and let go at once)."""
        if self.held:
            return False
        if not self.acquire():
            return True
        self.release()
        return False

    def holder(self) -> dict | None:
        """The holder's sidecar info (``{}`` when it wrote none), or None when nobody holds it."""
        if not self.path.exists() or not self.held_elsewhere():
            return None
        try:
            return json.loads(self.sidecar.read_text(encoding="utf-8") or "{}")
        except (OSError, json.JSONDecodeError):
            return {}
