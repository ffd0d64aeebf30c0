"""The agent's one-of-each helpers: the store's timestamp format, id prefixes, the file lock."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from qylon_agent.daemon.jobs import JobQueue
from qylon_agent.locks import ProcessLock
from qylon_agent.recording import files as recording
from qylon_agent.speech.voices import Voices
from qylon_agent.store import ids, timestamps
from qylon_agent.store.database import Store

from qylon_cli.errors import InvalidInput, NotFound
from qylon_cli.schemas import ActionItem, Meeting, Segment

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_one_timestamp_format_and_old_rows_read():
    assert (
        timestamps.iso(datetime(2026, 12, 4, 21, 15, 0, 123456, tzinfo=UTC))
        == "2026-12-04T21:15:00.123Z"
    )
    for old in (
        "2026-12-04T21:15:00+00:00",
        "2026-12-04T21:15:00.000+00:00",
        "2026-12-04T21:15:00.000",
        "2026-12-04T22:15:00+01:00",
        "2026-12-04T21:15:00.000Z",
    ):
        assert timestamps.parse(old) == datetime(2026, 12, 4, 21, 15, tzinfo=UTC), old
        assert timestamps.utc(old) == "2026-12-04T21:15:00.000Z"
    assert timestamps.utc(None) is None
    # Sorting the strings sorts the moments, across old and new rows (the job queue compares them in SQL).
    ordered = [
        "2026-12-04T21:15:00.123+00:00",
        "2026-12-04T21:15:00.123Z",
        "2026-12-04T21:15:00.124Z",
    ]
    assert all(a < b for a, b in itertools.pairwise(ordered))


def test_every_writer_uses_the_format(qylon_home):
    import re

    import numpy as np

    store = Store()
    job = JobQueue(store).enqueue("sync", {})
    assert re.fullmatch(STAMP, job["created_at"]) and re.fullmatch(STAMP, job["next_run_at"])
    Voices(store).add_samples("Dana", [("clip.wav", 2.0, np.ones(256, dtype=np.float32) / 16)])
    [sample] = store.db["voice_samples"].rows
    assert re.fullmatch(STAMP, sample["created_at"])
    meeting = Meeting(
        id="0123abcd-0000-0000-0000-000000000000",
        title="t",
        created_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        duration_s=4.0,
        segments=[Segment(start=0, end=4, text="hello")],
        action_items=[ActionItem(id="a1b2c3d4e5f6", task="call Bob")],
    )
    store.save_meeting(
        meeting
    )  # the store's triggers stamp meetings.updated_at and queue the outbox
    store.set_item_status("a1b2", "done")
    [row] = store.db["meetings"].rows
    [queued] = store.db["sync_outbox"].rows
    [item] = store.db["action_items"].rows
    assert all(
        re.fullmatch(STAMP, stamp)
        for stamp in (row["updated_at"], queued["enqueued_at"], item["updated_at"])
    )


def test_id_prefixes_resolve_the_same_way_everywhere(qylon_home, tmp_path):
    found = lambda prefix: [i for i in ("abcd1234", "abce5678") if i.startswith(prefix)][:2]
    assert ids.resolve("ABCD", found, what="meeting", hint="h") == "abcd1234"
    with pytest.raises(InvalidInput, match="matches more than one action item"):
        ids.resolve("abc-", lambda p: ["abc-1", "abc-2"], what="action item", hint="h")
    with pytest.raises(NotFound, match="No job with id beef"):
        ids.resolve("beef", found, what="job", hint="h")
    for bad in ("ab", "abcd%", "zzzz"):  # too short, a LIKE wildcard, not hex
        with pytest.raises(InvalidInput, match="is not an? "):
            ids.resolve(bad, found, what="recording", hint="h")
    queue = JobQueue(Store())
    job = queue.enqueue("sync", {})
    assert queue.get(job["id"][:6].upper())["id"] == job["id"]
    with pytest.raises(InvalidInput):
        queue.get("%")  # was a wildcard matching every job
    rec = recording.Recording.create(tmp_path)
    rec.unlock()
    assert recording.get(tmp_path, rec.id[:8]).id == rec.id
    with pytest.raises(NotFound):
        recording.get(tmp_path, "0000000")


HOLD = """
import sys, time
from qylon_agent.locks import ProcessLock
lock = ProcessLock(sys.argv[1])
assert lock.acquire({"pid": 42})
print("held", flush=True)
sys.stdin.readline()
"""


def test_the_lock_is_one_process_at_a_time_and_says_who_holds_it(tmp_path):
    path = tmp_path / "x.lock"
    assert ProcessLock(path).holder() is None  # no file: nobody
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = ProcessLock(path)
        assert not mine.acquire() and mine.held_elsewhere()
        assert mine.holder() == {"pid": 42}  # from the sidecar x.lock.json
    finally:
        holder.kill()  # dies without releasing: the operating system lets go
        holder.wait()
    mine = ProcessLock(path)
    assert mine.holder() is None and path.exists()
    assert mine.acquire({"pid": 7}) and mine.held and not mine.held_elsewhere()
    assert not ProcessLock(path).acquire()  # another object in this process waits its turn too
    mine.release()
    assert ProcessLock(path).acquire()
