"""Writes at once: nothing lost from the audit trail, and on SQLite one writer at a time
(qylon_server.sqlite_writer) that never outlives its transaction."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from qylon_server.db import Database
from qylon_server.sqlite_writer import lock_for
from sqlalchemy import text

from .test_permissions import meeting_body


def test_concurrent_uploads_lose_no_audit_event(api, org):
    ids = [str(uuid.uuid4()) for _ in range(24)]
    key = api.post("/v1/api-keys", org.token, json={"name": "load", "scopes": ["write"]}).json()

    def upload(mid: str) -> int:
        return api.put(f"/v1/meetings/{mid}", key["token"], json=meeting_body(mid)).status_code

    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(upload, ids)) == [201] * len(ids)
    events = api.get(
        "/v1/audit-events", org.token, params={"action": "meeting.create", "limit": 200}
    ).json()
    assert events["total"] == len(ids)
    assert sorted(e["target_id"] for e in events["items"]) == sorted(ids)
    assert {e["api_key_id"] for e in events["items"]} == {key["id"]}
    assert api.get("/v1/meetings", org.token).json()["total"] == len(ids)


def test_uploads_of_one_new_meeting_at_once_create_it_once(api, org):
    mid = str(uuid.uuid4())

    def upload(n: int) -> int:
        body = {**meeting_body(mid), "title": f"Version {n}"}
        return api.put(f"/v1/meetings/{mid}", org.token, json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(upload, range(8)))
    # one creates it; the others update it, or (SQLite: their snapshot was older than the
    # creation) are told to try again
    assert codes.count(201) == 1 and set(codes) <= {200, 201, 409}, codes
    audit = api.get("/v1/audit-events", org.token, params={"target_id": mid}).json()["items"]
    actions = sorted(e["action"] for e in audit)
    assert actions == ["meeting.create"] + ["meeting.update"] * codes.count(200), actions
    title = api.get(f"/v1/meetings/{mid}", org.token).json()["title"]
    assert title.startswith("Version ")


@pytest.fixture
def sqlite_file(tmp_path):
    path = tmp_path / "writers.db"
    first, second = Database(f"sqlite:///{path}"), Database(f"sqlite:///{path}")
    with first.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield first, second, lock_for(str(path))
    first.dispose()
    second.dispose()


def test_sqlite_writers_take_turns_and_all_commit(sqlite_file):
    first, second, lock = sqlite_file

    def write(n: int) -> None:
        with (first if n % 2 else second).engine.begin() as conn:
            conn.execute(text("SELECT count(*) FROM t")).scalar()
            conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
            conn.execute(text("UPDATE t SET n = n WHERE n = :n"), {"n": n})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(64)))
    with first.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 64
    assert not lock.locked()


def test_sqlite_writer_lock_ends_with_each_transaction(sqlite_file):
    first, _second, lock = sqlite_file
    with first.engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM t"))
        assert not lock.locked()  # reads never take it
        conn.execute(text("INSERT INTO t (n) VALUES (1)"))
        assert lock.locked()
        conn.commit()
        assert not lock.locked()  # released at commit, the connection still checked out
        conn.execute(text("INSERT INTO t (n) VALUES (2)"))
        conn.rollback()
        assert not lock.locked()
    with pytest.raises(RuntimeError), first.engine.begin() as conn:
        conn.execute(text("INSERT INTO t (n) VALUES (3)"))
        raise RuntimeError("a failing request")
    assert not lock.locked()
    with first.engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [1]


def test_a_savepoint_takes_the_writer_lock_before_its_reads(sqlite_file):
    """A SAVEPOINT opens SQLite's transaction (the driver only begins one before a write):
    reads under it see a snapshot that a write of another connection, committed before
    this one's first write, would make stale, and SQLite refuses that write at once
    ("database is locked", its busy handler never asked). Seen in CI: a batch of
    onboarding starts (the experiment's exposure is written in a savepoint) failed all
    its items while workflow steps wrote. The savepoint takes the writer lock instead."""
    first, second, lock = sqlite_file
    wrote = threading.Event()

    def other_writer() -> None:
        with second.engine.begin() as conn:
            conn.execute(text("INSERT INTO t (n) VALUES (2)"))
        wrote.set()

    with first.engine.connect() as conn:
        nested = conn.begin_nested()  # SAVEPOINT, no BEGIN before it
        assert lock.locked()
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
        writer = threading.Thread(target=other_writer)
        writer.start()
        assert not wrote.wait(0.3)  # it waits for this transaction's lock
        conn.execute(text("INSERT INTO t (n) VALUES (1)"))
        nested.commit()
        conn.commit()
    writer.join(10)
    assert wrote.is_set() and not lock.locked()
    with first.engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX (Windows: the thread lock)")
def test_sqlite_writer_lock_holds_off_other_processes(sqlite_file, tmp_path):
    first, _second, _lock = sqlite_file
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "try:\n"
        "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    sys.exit(3)\n"
    )

    def other_process_may_write() -> bool:
        done = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path / "writers.db")], check=False
        )
        return done.returncode == 0

    with first.engine.connect() as conn:
        conn.execute(text("INSERT INTO t (n) VALUES (1)"))
        assert not other_process_may_write()
        conn.commit()
    assert other_process_may_write()


def test_the_writer_lock_goes_to_the_longest_waiter():
    """First come, first served: a writer that has waited is not overtaken by threads
    that asked after it (with a plain lock, whichever thread runs first wins, and a
    request could lose to a hundred workflow threads until its timeout)."""
    import threading
    import time

    from qylon_server.sqlite_writer import Turns

    turns, order = Turns(), []
    assert turns.acquire(timeout=1)

    def writer(n: int) -> None:
        assert turns.acquire(timeout=10)
        order.append(n)
        turns.release()

    threads = []
    for n in range(8):
        threads.append(threading.Thread(target=writer, args=(n,)))
        threads[-1].start()
        while len(turns._waiting) < n + 1:  # queued before the next one asks
            time.sleep(0.001)
    assert not turns.acquire(timeout=0.05)  # a waiter that gives up leaves the queue ...
    assert len(turns._waiting) == 8
    turns.release()
    for t in threads:
        t.join(10)
    assert order == list(range(8))
    assert not turns.locked() and turns.acquire(timeout=0)  # ... and the lock is free after
    turns.release()
