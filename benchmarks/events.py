"""Event store: append rate and replay rate of 100,000 events, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/events.py [--events 100000] [--backends sqlite,postgres]

Appends workflow-run events (10 a run: enqueued, started, 7 steps, finished) through
``events.store.append_many``, as the app's role (row-level security on PostgreSQL), 50
runs a transaction. Then measures, in one organisation's transaction as a replay does:

- read: every event read back and decoded (``store.walk``: pages of 5,000, upcasting);
- rebuild: ``qylon server replay flow_runs``'s work into an empty ``flow_runs`` (read,
  decode, apply, insert 10,000 rows);
- replay: the same again over the rows it made (the usual case: a replay that checks and
  mends a live projection writes only the rows that differ).

Target (issue 19, 2 cores): replay >= 20,000 events/s. PostgreSQL runs on 127.0.0.1:5432
in a throwaway database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def backend(kind: str):
    from qylon_server import migrate
    from qylon_server.throwaway import throwaway_postgres

    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'events.db'}"
            migrate.upgrade(url)
            yield url, url
        return
    with throwaway_postgres("qylon_bench_events") as pg:
        migrate.upgrade(pg.admin_url, grant_to=pg.role)
        yield pg.admin_url, pg.app_url


def run_events(run_id: str, definition_id: str, owner: str) -> list:
    from qylon_server.events import domain

    stream = f"workflow_run:{run_id}"
    items = [
        (
            stream,
            domain.RunEnqueued,
            {
                "definition_id": definition_id,
                "name": "bench",
                "version": 1,
                "status": "enqueued",
                "input": {"email": "someone@example.com"},
                "idempotency_key": None,
                "request_hash": None,
                "user_id": owner,
                "key_id": "key",
            },
        ),
        (stream, domain.RunStarted, {"status": "running"}),
    ]
    for n in range(7):
        record = {
            "action": "notify",
            "status": "completed",
            "attempts": 1,
            "output": {"sent": n},
            "error": None,
            "finished_at": "2026-12-05T10:00:00+00:00",
        }
        items.append((stream, domain.StepCompleted, {"step": f"step{n}", "record": record}))
    items.append(
        (
            stream,
            domain.RunFinished,
            {"status": "completed", "error": None, "finished_at": "2026-12-05T10:00:01+00:00"},
        )
    )
    return items


def measure(kind: str, total: int) -> dict:
    from qylon_server.db import Database
    from qylon_server.events import projections, store
    from qylon_server.models import FlowDefinition
    from qylon_server.orgs import create_org
    from qylon_server.tenancy import org_session

    with backend(kind) as (admin_url, app_url):
        admin = Database(admin_url)
        made = create_org(
            admin, name="Bench", admin_email="o@bench.example", pepper=b"p" * 32, allow_more=True
        )
        admin.dispose()
        db = Database(app_url)
        actor = {"user_id": made.user_id, "key_id": "key"}
        with org_session(db, made.org_id) as s:
            definition = FlowDefinition(name="bench", version=1, sha256="0" * 64, text="x")
            s.add(definition)
            s.flush()
            definition_id = definition.id
        runs = total // 10
        started = time.perf_counter()
        for first in range(0, runs, 50):
            with org_session(db, made.org_id) as s:
                items = []
                for _ in range(min(50, runs - first)):
                    items += run_events(f"run-{uuid.uuid4()}", definition_id, made.user_id)
                store.append_many(
                    s, actor, items, expected_versions={stream: 0 for stream, _, _ in items}
                )
        append_s = time.perf_counter() - started

        started = time.perf_counter()
        with org_session(db, made.org_id) as s:
            read = sum(1 for _ in store.walk(s))
        read_s = time.perf_counter() - started

        started = time.perf_counter()
        with org_session(db, made.org_id) as s:
            rows = projections.rebuild_runs(s)
        rebuild_s = time.perf_counter() - started

        started = time.perf_counter()
        with org_session(db, made.org_id) as s:
            projections.rebuild_runs(s)
        again_s = time.perf_counter() - started
        db.dispose()
    assert read == runs * 10 and rows == runs, (read, rows)
    return {
        "backend": kind,
        "events": read,
        "append_per_s": round(read / append_s),
        "read_per_s": round(read / read_s),
        "rebuild_per_s": round(read / rebuild_s),
        "rebuild_s": round(rebuild_s, 2),
        "replay_per_s": round(read / again_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    print(
        f"{'backend':<10} {'events':>8} {'append/s':>10} {'read/s':>10} {'rebuild/s':>10} "
        f"{'replay/s':>10}"
    )
    for kind in args.backends.split(","):
        r = measure(kind.strip(), args.events)
        print(
            f"{r['backend']:<10} {r['events']:>8} {r['append_per_s']:>10} "
            f"{r['read_per_s']:>10} {r['rebuild_per_s']:>10} {r['replay_per_s']:>10}",
            flush=True,
        )


if __name__ == "__main__":
    main()
