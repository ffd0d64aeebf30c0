"""The durable job queue in the agent's store.

A job is claimed by flipping it to ``running`` in one statement, so two workers never
take the same job. A job found ``running`` when the daemon starts belonged to a
process that died: it goes back to the queue and runs again from its last safe point
(jobs are written so that running one twice has the effect of running it once).
Failures are retried with exponential backoff, then parked with their error.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from qylon_cli.errors import InvalidInput

from ..store import ids, timestamps
from ..store.database import Store

KINDS = ("transcribe", "recording", "analyze", "sync", "crm_push")
FINISHED = ("done", "parked", "cancelled")
BACKOFF_S = 5.0


def _row(row: dict) -> dict:
    return {
        **row,
        "payload": json.loads(row["payload"] or "{}"),
        "result": json.loads(row["result"] or "null"),
    }


class JobQueue:
    def __init__(self, store: Store):
        self.store = store
        self.db = store.db

    def enqueue(self, kind: str, payload: dict, *, max_attempts: int = 3) -> dict:
        if kind not in KINDS:
            raise InvalidInput(f"Unknown job kind {kind!r}.", hint=f"One of: {', '.join(KINDS)}.")
        job = {
            "id": str(uuid.uuid4()),
            "kind": kind,
            "payload": json.dumps(payload),
            "status": "queued",
            "attempts": 0,
            "max_attempts": max_attempts,
            "next_run_at": timestamps.now(),
            "created_at": timestamps.now(),
        }
        with self.db.atomic():
            self.db["jobs"].insert(job)
        return self.get(job["id"])

    def get(self, ref: str) -> dict:
        job_id = ids.resolve(
            ref, ids.in_table(self.db, "jobs"), what="job", hint="`qylon agent jobs` lists jobs."
        )
        return _row(self.db["jobs"].get(job_id))

    def list(self, *, include_finished: bool = True, limit: int = 100) -> list[dict]:
        where = None if include_finished else "status NOT IN ('done', 'cancelled')"
        return [
            _row(r)
            for r in self.db["jobs"].rows_where(where, order_by="created_at DESC", limit=limit)
        ]

    def active_for(self, kind: str, key: str, value: str) -> dict | None:
        """A queued or running job of ``kind`` whose payload has ``key`` = ``value``."""
        row = self.db.execute(
            "SELECT id FROM jobs WHERE kind = ? AND status IN ('queued', 'running') AND json_extract(payload, ?) = ? LIMIT 1",
            [kind, f"$.{key}", value],
        ).fetchone()
        return self.get(row[0]) if row else None

    def pending_count(self) -> int:
        return self.db.execute(
            "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"
        ).fetchone()[0]

    def requeue_orphans(self) -> int:
        """Jobs left ``running`` by a process that died go back to the queue."""
        with self.db.atomic():
            cur = self.db.execute(
                "UPDATE jobs SET status = 'queued', next_run_at = ? WHERE status = 'running'",
                [timestamps.now()],
            )
        return cur.rowcount

    def claim(self, kinds: tuple[str, ...] = KINDS) -> dict | None:
        marks = ",".join("?" for _ in kinds)
        with self.db.atomic():
            cur = self.db.execute(
                f"""UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?
                    WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND next_run_at <= ?
                                AND kind IN ({marks}) ORDER BY created_at LIMIT 1)
                    RETURNING id""",
                [timestamps.now(), timestamps.now(), *kinds],
            )
            row = cur.fetchone()
        return self.get(row[0]) if row else None

    def finish(self, job_id: str, result: dict | None = None) -> None:
        with self.db.atomic():
            self.db["jobs"].update(
                job_id,
                {
                    "status": "done",
                    "result": json.dumps(result),
                    "error": None,
                    "finished_at": timestamps.now(),
                },
            )

    def fail(
        self, job_id: str, error: str, *, permanent: bool = False, detail: dict | None = None
    ) -> dict:
        """Record a failure: retry later with backoff, or park when out of attempts.

        ``detail`` ({code, hint, exit_code}) lets a waiting CLI report the error as
        if the work had run in its own process.
        """
        job = self.get(job_id)
        update = {"error": error, "result": json.dumps({"error": detail} if detail else None)}
        if permanent or job["attempts"] >= job["max_attempts"]:
            update.update(status="parked", finished_at=timestamps.now())
        else:
            delay = BACKOFF_S * 2 ** (job["attempts"] - 1)
            update.update(
                status="queued",
                next_run_at=timestamps.iso(datetime.now(UTC) + timedelta(seconds=delay)),
            )
        with self.db.atomic():
            self.db["jobs"].update(job_id, update)
        return self.get(job_id)

    def release(self, job_id: str) -> None:
        """Put a running job back in the queue untouched (the daemon is stopping)."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0) WHERE id = ? AND status = 'running'",
                [job_id],
            )

    def cancel(self, ref: str) -> dict:
        job = self.get(ref)
        if job["status"] in FINISHED:
            raise InvalidInput(f"Job {job['id'][:8]} is already {job['status']}.")
        with self.db.atomic():
            self.db["jobs"].update(
                job["id"], {"status": "cancelled", "finished_at": timestamps.now()}
            )
        return self.get(job["id"])

    def retry(self, ref: str) -> dict:
        job = self.get(ref)
        if job["status"] not in ("parked", "cancelled"):
            raise InvalidInput(
                f"Job {job['id'][:8]} is {job['status']}; only parked or cancelled jobs can be retried."
            )
        with self.db.atomic():
            self.db["jobs"].update(
                job["id"],
                {
                    "status": "queued",
                    "attempts": 0,
                    "error": None,
                    "next_run_at": timestamps.now(),
                    "finished_at": None,
                },
            )
        return self.get(job["id"])
