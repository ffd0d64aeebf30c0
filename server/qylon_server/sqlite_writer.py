"""One writer at a time on a SQLite file, queued without SQLite's sleeps.

SQLite lets one transaction write at a time; the others wait in its busy handler, which
polls with growing sleeps (up to 100 ms each): under 16 concurrent uploads a request
could sleep most of a second after the lock was free, and one process's writers could
starve the other's. Here a transaction takes the file's writer lock just before its
first write (INSERT, UPDATE, DELETE, DDL) or SAVEPOINT and lets it go when it commits or
rolls back:

- within a process, a first-come, first-served lock (``Turns``): the longest waiter is
  handed the lock as soon as it is released (a plain ``threading.Lock`` lets whichever
  thread runs first take it, so under load a request could lose to a hundred workflow
  threads again and again until its timeout);
- across processes (``qylon server start --workers N``), an exclusive ``flock`` on the
  database file, asked for every half millisecond (BSD locks: they never touch the POSIX
  locks SQLite itself takes on the file). Where ``flock`` is missing (Windows) or fails,
  the thread lock alone.

Reads never wait for it (WAL). A transaction that cannot have the lock within
``TIMEOUT_S`` goes on without it, as before (SQLite's own busy timeout then applies).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque

from sqlalchemy import event
from sqlalchemy.engine import Engine

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

TIMEOUT_S = 30.0
POLL_S = 0.0005
# SAVEPOINT too: outside a transaction it opens SQLite's (the driver begins one only before
# a write), and reads under it would see a snapshot that another connection's commit makes
# stale before this one's first write, which SQLite then refuses at once
_WRITE = re.compile(
    r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|SAVEPOINT)\b", re.IGNORECASE
)
_HOLDS = "qylon_sqlite_writer"  # connection record info: this connection holds the lock


class Turns:
    """A lock taken in the order it was asked for: ``release`` hands it to the longest
    waiter, which wakes already holding it."""

    def __init__(self):
        self._mutex, self._held, self._waiting = threading.Lock(), False, deque()

    def locked(self) -> bool:
        return self._held

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held and not self._waiting:
                self._held = True
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn in self._waiting:  # given up: never handed the lock
                self._waiting.remove(turn)
                return False
        return True  # handed over between the timeout and the mutex

    def release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # still held: now by that waiter
            else:
                self._held = False


class WriterLock:
    """The writer lock of one database file, shared by every engine of this process."""

    def __init__(self, path: str):
        self.path, self._thread, self._fd = path, Turns(), None

    def locked(self) -> bool:
        return self._thread.locked()

    def acquire(self, timeout: float = TIMEOUT_S) -> bool:
        deadline = time.monotonic() + timeout
        if not self._thread.acquire(timeout=timeout):
            return False
        fd = self._file()
        while fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._thread.release()
                    return False
                time.sleep(POLL_S)
            except OSError:  # a file system without locks: this process's lock alone
                return True
        return True

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            except OSError:
                pass
        self._thread.release()

    def _file(self) -> int | None:
        if fcntl is not None and self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                return None
        return self._fd


_locks: dict[str, WriterLock] = {}
_made = threading.Lock()


def lock_for(path: str) -> WriterLock:
    path = os.path.realpath(path)
    with _made:
        return _locks.setdefault(path, WriterLock(path))


def one_writer_at_a_time(engine: Engine, path: str) -> None:
    """Make ``engine``'s transactions take ``path``'s writer lock (module docstring)."""
    lock = lock_for(path)

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn, _cursor, statement, _params, _context, _many):
        info = conn.connection.info
        if info.get(_HOLDS) is None and _WRITE.match(statement):
            info[_HOLDS] = lock.acquire()

    def _release(info) -> None:
        if info is not None and info.pop(_HOLDS, None):
            lock.release()

    def _ended(conn) -> None:
        if not conn.invalidated:  # an invalidated one was let go by "invalidate"
            _release(conn.connection.info)

    # at the end of the transaction (just before SQLite's own commit or rollback: a writer
    # let in a moment early waits a millisecond in SQLite's handler), and, should a
    # connection leave otherwise, when it returns to the pool or is dropped
    event.listen(engine, "commit", _ended)
    event.listen(engine, "rollback", _ended)
    event.listen(engine.pool, "checkin", lambda _c, record: _release(record and record.info))
    event.listen(engine.pool, "invalidate", lambda _c, record, _e: _release(record.info))
