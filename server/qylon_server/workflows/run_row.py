"""A run's ``flow_runs`` row as the interpreter keeps it: changes recorded as events of
the run's stream and applied to the row (a projection), its attempts and its deadline.
Each function works in the caller's session and transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from ..events import projections
from ..models import FlowRun, now
from . import actions


def record(session, run_id: str, *more: dict, **changes) -> FlowRun:
    """Record ``changes`` to a run (then each of ``more``, in order): an event each in its
    stream, applied to its ``flow_runs`` row (a projection of those events), in
    ``session``'s transaction."""
    row = session.get(FlowRun, run_id)
    if row is None:
        raise actions.ActionError("not_found", f"run {run_id} has no flow_runs row")
    starter = {"user_id": row.user_id, "key_id": row.key_id}
    todo = [changes, *more]
    if row.status == "enqueued" and changes.get("status") in (None, "running"):
        # its first durable call (or a resume): running, since now on its first start
        first = {"status": "running"}
        if row.started_at is None:
            first["started_at"] = now()
        changes = {k: v for k, v in changes.items() if k != "status"}
        todo = [first, *([changes] if changes else []), *more]
    return projections.record_runs(session, starter, run_id, todo, row=row)


def attempts(session, run_id: str, name: str) -> int:
    row = session.get(FlowRun, run_id)
    return int(((row.steps or {}).get(name) or {}).get("attempts", 0)) + 1


def run_deadline(session, row: FlowRun, limits: dict) -> float | None:
    """The run's deadline (epoch seconds): its timeout counted from its start, or from its
    latest resume. Recorded in ``deadline_at`` for readers."""
    if not limits.get("run_timeout"):
        return None
    since = limits["started"]
    if since is None:  # no start call of its own: its first step's transaction starts it
        if row.started_at is None:
            record(session, row.id, status="running")
        since = epoch(row.started_at)
    if row.resumed_at is not None:
        since = max(since, epoch(row.resumed_at))
    deadline = since + limits["run_timeout"]
    if row.deadline_at is None or abs(epoch(row.deadline_at) - deadline) > 0.001:
        record(session, row.id, deadline_at=datetime.fromtimestamp(deadline, UTC))
    return deadline


def epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
