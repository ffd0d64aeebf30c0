"""Two writers to the agent's store at once both succeed: the second waits, it does not fail."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from qylon_agent.daemon.jobs import JobQueue
from qylon_agent.store.database import Store

from qylon_cli.schemas import ActionItem, Meeting, Segment


def _meeting(i: int, tag: str) -> Meeting:
    return Meeting(
        id=str(uuid.uuid4()),
        title=f"{tag} {i}",
        created_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        duration_s=10.0,
        segments=[Segment(start=0, end=4, text=f"word {i} from {tag}")],
        action_items=[ActionItem(id=uuid.uuid4().hex[:12], task=f"task {i}")],
    )


def test_two_concurrent_writers_both_succeed(tmp_path):
    path = tmp_path / "q.db"
    Store(path).close()
    n, errors, start = 60, [], threading.Barrier(2)

    def writer(tag: str) -> None:
        store = Store(path)
        jobs = JobQueue(store)
        start.wait()
        for i in range(n):
            try:
                # insert() reads the table's schema first, then writes: the pattern that failed
                # with "database is locked" when transactions began deferred.
                jobs.enqueue("sync", {"tag": tag, "i": i})
                store.save_meeting(_meeting(i, tag))
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                errors.append(f"{tag} {i}: {exc}")
        store.close()

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in ("agent", "cli")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    store = Store(path)
    assert store.db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 2 * n
    assert len(store.list_meetings()) == 2 * n
    assert (
        store.db.execute("SELECT count(*) FROM sync_outbox WHERE pushed_at IS NULL").fetchone()[0]
        == 2 * n
    )
