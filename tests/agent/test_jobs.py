"""The durable job queue on a real SQLite store."""

from __future__ import annotations

import pytest
from qylon_agent.daemon.jobs import JobQueue
from qylon_agent.store.database import Store

from qylon_cli.errors import InvalidInput, NotFound


@pytest.fixture
def queue(tmp_path):
    return JobQueue(Store(tmp_path / "q.db"))


def test_claim_in_order_once(queue):
    first = queue.enqueue("transcribe", {"path": "a"})
    second = queue.enqueue("transcribe", {"path": "b"})
    claimed = queue.claim()
    assert (
        claimed["id"] == first["id"] and claimed["status"] == "running" and claimed["attempts"] == 1
    )
    assert queue.claim()["id"] == second["id"]
    assert queue.claim() is None


def test_failure_backs_off_then_parks(queue):
    job = queue.enqueue("sync", {}, max_attempts=2)
    queue.claim()
    failed = queue.fail(job["id"], "server down")
    assert failed["status"] == "queued" and failed["next_run_at"] > failed["created_at"]
    assert queue.claim() is None  # not before its backoff
    queue.db["jobs"].update(job["id"], {"next_run_at": failed["created_at"]})
    assert queue.claim()["attempts"] == 2
    parked = queue.fail(job["id"], "server still down")
    assert parked["status"] == "parked" and parked["error"] == "server still down"
    retried = queue.retry(job["id"][:8])
    assert (retried["status"], retried["attempts"], retried["error"]) == ("queued", 0, None)


def test_permanent_failure_parks_at_once(queue):
    job = queue.enqueue("transcribe", {})
    queue.claim()
    parked = queue.fail(
        job["id"], "not audio", permanent=True, detail={"code": "invalid_audio", "exit_code": 3}
    )
    assert parked["status"] == "parked" and parked["result"] == {
        "error": {"code": "invalid_audio", "exit_code": 3}
    }


def test_orphans_requeued_and_release(queue):
    job = queue.enqueue("transcribe", {})
    queue.claim()
    assert queue.requeue_orphans() == 1
    assert queue.get(job["id"])["status"] == "queued"
    queue.claim()
    queue.release(job["id"])
    assert queue.get(job["id"])["status"] == "queued"


def test_cancel_and_errors(queue):
    job = queue.enqueue("analyze", {"meeting_id": "x"})
    assert queue.cancel(job["id"])["status"] == "cancelled"
    assert queue.claim() is None
    with pytest.raises(InvalidInput):
        queue.cancel(job["id"])
    with pytest.raises(NotFound):
        queue.get("deadbeef")
    with pytest.raises(InvalidInput):
        queue.enqueue("dance", {})
    with pytest.raises(InvalidInput):
        queue.retry(queue.enqueue("sync", {})["id"])
