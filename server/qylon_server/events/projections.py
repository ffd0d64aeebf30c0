"""Projections: tables kept from the events, in the same transaction as the events.

``flow_runs`` is the one today: each workflow run's row is what its stream's events say
(``apply``). The interpreter and the run's start append an event and apply it at once
(``record_run``); ``rebuild`` replays an organisation's events from position 0 into the
table, which must give the same rows (tests/server/test_events.py proves it).

A run started before the event store existed (migration 0009) has no events: ``rebuild``
leaves its row as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from ..db import SKIP, TenantNotSet
from ..models import FlowRun
from . import domain, store

RUN = "workflow_run"
OUTCOMES = frozenset({"completed", "compensated", "failed", "cancelled", "timed_out"})
_DATES = (
    "created_at",
    "updated_at",
    "finished_at",
    "cancel_requested_at",
    "resumed_at",
    "deadline_at",
    "started_at",
)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _date(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def run_stream(run_id: str) -> str:
    return domain.stream_of(RUN, run_id)


def run_event_type(changes: dict[str, Any]) -> type[domain.Event]:
    """The type of event that records ``changes`` to a run (``workflows.run_row.record``'s)."""
    step = changes.get("step")
    if step is not None:
        name, record = step
        status = record.get("status")
        if status == "completed":
            return domain.StepCompensated if name.endswith(".compensate") else domain.StepCompleted
        if status == "failed":
            return (
                domain.StepAttempted
                if "attempts" in record and record.get("action")
                else domain.StepFailed
            )
        return {
            "skipped": domain.StepSkipped,
            "sleeping": domain.StepWaiting,
            "waiting": domain.StepWaiting,
        }.get(status, domain.StepChanged)
    if changes.get("resumed_at") is not None:
        return domain.RunResumed
    if changes.get("cancel_requested_at") is not None:
        return domain.RunCancelRequested
    if set(changes) == {"deadline_at"}:
        return domain.RunDeadlineSet
    status = changes.get("status")
    if status == "running":
        return domain.RunStarted
    if status in OUTCOMES:
        return domain.RunFinished
    return domain.RunStatusChanged


def run_event_data(changes: dict[str, Any]) -> dict[str, Any]:
    data = {key: _jsonable(value) for key, value in changes.items() if key != "step"}
    if changes.get("step") is not None:
        name, record = changes["step"]
        data["step"] = name
        data["record"] = {key: _jsonable(value) for key, value in record.items()}
    return data


def apply(row, event: domain.Event, *, make: Callable[..., Any] = FlowRun):
    """``row`` after ``event`` (a run's first event makes it with ``make``): the one place
    that says what a run's row is from its events. Live, ``row`` is the ORM row; a rebuild
    passes plain objects (``_Row``), which are faster to change."""
    data = event.data
    if isinstance(event, domain.RunEnqueued):
        return make(
            id=event.stream.split(":", 1)[1],
            org_id=event.org_id,
            steps={},
            created_at=event.timestamp,
            updated_at=event.timestamp,
            finished_at=None,
            error=None,
            stream_version=event.originator_version,
            **{k: v for k, v in data.items() if k not in _DATES},
        )
    if row is None:
        raise LookupError(f"{event.stream}: an event before the run was enqueued")
    if "step" in data:
        merged = dict(row.steps or {})
        name = data["step"]
        merged[name] = {
            **merged.get(name, {"seq": len(merged) + 1, "attempts": 0}),
            **data["record"],
        }
        row.steps = merged
    for key, value in data.items():
        if key in ("step", "record"):
            continue
        setattr(row, key, _date(value) if key in _DATES else value)
    row.updated_at = event.timestamp
    row.stream_version = event.originator_version
    return row


def record_run(session: Session, principal, run_id: str, changes: dict[str, Any], row=None):
    """Append the event recording ``changes`` to run ``run_id`` and apply it to its row."""
    return record_runs(session, principal, run_id, [changes], row)


def record_runs(session: Session, principal, run_id: str, changes: list[dict[str, Any]], row=None):
    """Append the events recording each of ``changes`` to run ``run_id``, in order, and
    apply them to its row: one event per change, read, written and saved together.

    The run's row is the stream's lock (``lock_run``, once per transaction), and it keeps
    the stream's version (``stream_version``, set by ``apply``), so two appends to one run
    (a step and a cancel) queue on that row and number their events on from what it says,
    with no query of the stream's head (a row older than that column reads it once). A
    stream changed without its row still clashes (``VersionClash``, 409) at the insert.
    The row is changed and flushed before the events are saved, so the table lock
    covers less."""
    row = lock_run(session, run_id, row)
    stream = run_stream(run_id)
    version = row.stream_version
    if version is None:
        version = store.head(session, domain.originator_id(session.info["org_id"], stream))
    events = store.make(
        session,
        principal,
        [(stream, run_event_type(each), run_event_data(each)) for each in changes],
        versions={stream: version},
        correlation=run_id,
        causation=session.info.get(store.CAUSATION) or run_id,
    )
    for event in events:
        apply(row, event)
    session.flush()
    store.save(session, events)
    return row


_LOCKED_RUNS = "projections.locked_runs"  # (transaction, run ids locked in it)
# a run's row, read afresh (FOR UPDATE on PostgreSQL); built once, and naming the
# organisation itself instead of through the session's tenant filter, which rebuilds a
# statement at every execution (the row is read at every workflow step)
_ROW = select(FlowRun).where(FlowRun.id == bindparam("id"), FlowRun.org_id == bindparam("org"))
_LOCK = {False: _ROW, True: _ROW.with_for_update()}
_RELOAD = {"populate_existing": True, SKIP: True}


def lock_run(session: Session, run_id: str, row=None):
    """Run ``run_id``'s row as it is now, locked for the rest of the transaction (what a
    step, a signal and a cancel of one run queue on): ``FOR UPDATE`` on PostgreSQL; on
    SQLite, which has no row locks, its write lock, taken by a no-op update of the row
    (SQLite's driver begins a transaction only at the first write, so a stream's head or
    a row read before it could be stale by the time the transaction writes)."""
    transaction = session.get_transaction()
    held = session.info.get(_LOCKED_RUNS)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKED_RUNS] = (transaction, set())
    if run_id in held[1] and row is not None:
        return row
    org_id = session.info.get("org_id")
    if org_id is None:
        raise TenantNotSet(f"run {run_id} locked without an organisation")
    session.flush()  # a pending change to the row must not be overwritten by the reload
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if not postgres and not connection.connection.dbapi_connection.in_transaction:
        # (a transaction that has begun has written, which took the write lock: the
        # driver begins one at the first write only, as here)
        # in Core, not the ORM's bulk update: its session synchronisation (evaluating
        # the criteria against loaded rows) cost a step more CPU than the statement,
        # and the select below reloads the row anyway
        runs = FlowRun.__table__
        connection.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.org_id == org_id)
            .values(updated_at=runs.c.updated_at)
        )
    locked = session.scalars(
        _LOCK[postgres],
        {"id": run_id, "org": org_id},
        execution_options=_RELOAD,
    ).one_or_none()
    if locked is None:
        raise LookupError(f"run {run_id} has no flow_runs row")
    held[1].add(run_id)
    return locked


def enqueue_run(session: Session, principal, run_id: str, columns: dict[str, Any]) -> FlowRun:
    """The first event of a run (its row's starting columns) and the row made from it."""
    event = store.append(
        session,
        principal,
        run_stream(run_id),
        domain.RunEnqueued,
        {key: _jsonable(value) for key, value in columns.items()},
        expected_version=0,
        correlation=run_id,
        causation=store.correlation_id(session),
    )
    row = apply(None, event)
    session.add(row)
    return row


# ------------------------------------------------------------------------------ rebuild

COLUMNS = tuple(c.key for c in sa_inspect(FlowRun).column_attrs)


class _Row:
    """A run's row while it is rebuilt: plain attributes (ORM ones cost more to change)."""

    def __init__(self, **columns):
        self.__dict__.update(dict.fromkeys(COLUMNS), **columns)  # unset columns: None


def _runs_from_events(session: Session) -> dict[str, _Row]:
    rows: dict[str, _Row] = {}
    older: set[str] = set()  # runs started before the event store: their rows stay
    for recorded in store.walk(session, types=domain.RUN_TYPES):
        event = recorded.event
        run_id = event.stream.split(":", 1)[1]
        if run_id not in rows and not isinstance(event, domain.RunEnqueued):
            older.add(run_id)
        if run_id in older:
            continue
        rows[run_id] = apply(rows.get(run_id), event, make=_Row)
    return rows


def rebuild_runs(session: Session) -> int:
    """Replay the session's organisation's run events from position 0 into ``flow_runs``
    (rows of runs with no events are left as they are; rows already right are not
    rewritten); returns how many rows were rebuilt."""
    import gc

    paused = gc.isenabled()
    gc.disable()  # many small dicts stay alive until the end: collections would rescan them
    try:
        return _rebuild_runs(session)
    finally:
        if paused:
            gc.enable()


def _rebuild_runs(session: Session) -> int:
    rebuilt = _runs_from_events(session)
    columns = [getattr(FlowRun, c) for c in COLUMNS]
    existing = {r.id: r._asdict() for r in session.execute(select(*columns))}
    fresh = [{c: getattr(r, c) for c in COLUMNS} for r in rebuilt.values()]
    new = [row for row in fresh if row["id"] not in existing]
    changed = [row for row in fresh if row["id"] in existing and row != existing[row["id"]]]
    for first in range(0, len(new), 1000):
        session.execute(insert(FlowRun), new[first : first + 1000])
    for first in range(0, len(changed), 1000):  # by primary key; the ids are this org's
        session.execute(
            update(FlowRun), changed[first : first + 1000], execution_options={SKIP: True}
        )
    session.flush()
    session.expire_all()
    return len(rebuilt)


def _rebuild_onboardings(session: Session) -> int:
    from . import onboarding

    return onboarding.rebuild(session)


def rebuild_experiments(session: Session) -> int:
    from .experiment_funnel import rebuild  # it imports this package's modules

    return rebuild(session)


def rebuild_nudges(session: Session) -> int:
    from .engagement_nudges import rebuild_nudges as rebuild

    return rebuild(session)


def _rebuild_compliance(session: Session) -> int:
    from .compliance import rebuild_items

    return rebuild_items(session)


PROJECTIONS: dict[str, Callable[[Session], int]] = {
    "flow_runs": rebuild_runs,
    "onboardings": _rebuild_onboardings,  # and mail_suppressions
    "experiments": rebuild_experiments,  # experiments and experiment_exposures
    "engagement_nudges": rebuild_nudges,
    "compliance_items": _rebuild_compliance,
}


def organisations(db) -> list[str]:
    """Every organisation's id (on PostgreSQL this needs a role that sees them all)."""
    from ..models import Organisation

    with db.session(None) as session:
        return list(session.scalars(select(Organisation.id).order_by(Organisation.id)))


def rebuild(db, projection: str, org_id: str) -> dict[str, Any]:
    """Rebuild ``projection`` for one organisation, in one transaction of that organisation
    (on PostgreSQL row-level security shows it only its own events)."""
    import time

    from ..db import set_org

    if projection not in PROJECTIONS:
        raise KeyError(projection)
    started = time.perf_counter()
    from ..models import Organisation

    with db.session(None) as session:  # as tenancy.org_session, which sits above this layer
        set_org(session, org_id)
        if session.get(Organisation, org_id) is None:
            raise LookupError(f"no organisation {org_id}")
        rows = PROJECTIONS[projection](session)
    return {"org_id": org_id, "rows": rows, "seconds": round(time.perf_counter() - started, 3)}
