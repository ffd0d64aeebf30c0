"""A workflow step's transactions: one attempt of an action (``one_attempt``), with its
tries when the transaction loses a race, and the run's record written between steps
(``mark``), each in a transaction of the run's organisation (``run_session``) whose event
appends wait for the events table's lock longer than a request's."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from ..deps import Ctx, principal_with
from ..errors import lost_race
from ..events import store as event_store
from ..models import FlowRun, now
from ..tenancy import org_session
from . import actions, engine, run_row
from .checkpoint import CheckpointFailed

log = logging.getLogger("qylon_server.workflows")
BACKGROUND_LOCK_TIMEOUT = "60s"
RACES = 4  # tries of a step's attempt whose transaction lost a race (``one_attempt``)
RACE_PAUSE_S = 0.2  # before the next try: 0.2, 0.4, 0.6 s


@contextmanager
def run_session(run: dict) -> Iterator[Session]:
    """A transaction of the run's organisation. Its event appends wait for the events
    table's lock as long as ``BACKGROUND_LOCK_TIMEOUT``, not a request's 5 s: a step that
    gave up after 5 s failed its run, on a machine slow enough (seen in CI) for another
    transaction to hold the lock that long. Within a step's deadline, which PostgreSQL's
    statement_timeout enforces (``one_attempt``)."""
    with org_session(engine.database(), run["org_id"]) as session:
        session.info[event_store.LOCK_WAIT] = BACKGROUND_LOCK_TIMEOUT
        yield session


def one_attempt(run: dict, name: str, action: str, args: dict, limits: dict, *, step) -> dict:
    """One attempt of one action (``_try``). A try whose transaction lost a race to another
    (``errors.lost_race``: a lock wait given up, a deadlock, a serialization failure, a
    busy SQLite) was undone whole, and runs again as the same attempt, up to ``RACES``
    times: it is not the action's failure, and recording it as one failed runs whose
    definition has no ``retry`` (as the action's own failure would, the action runs
    again: at least once, as after a crash)."""
    for race in range(1, RACES + 1):
        try:
            return _try(run, name, action, args, limits, step, last=race == RACES)
        except _Raced:
            time.sleep(RACE_PAUSE_S * race)
    raise AssertionError("unreachable")


class _Raced(Exception):
    """A try's transaction lost a race, and another try may follow (``one_attempt``)."""


def _try(run: dict, name: str, action: str, args: dict, limits: dict, step, last: bool) -> dict:
    """One try of an attempt, in one transaction with DBOS's check, its record and its
    DBOS checkpoint (``checkpoint.transactional``). Forward steps first
    check the run: cancelled (``cancelled``) or past its deadline (``run_timeout``). The
    attempt's deadline is the step's ``timeout`` or the run's, whichever comes first: the
    action sees it (``ctx.deadline``), PostgreSQL's statement_timeout enforces it, and an
    attempt that ends past it is rolled back (``timeout``)."""
    deadline = run_deadline = None
    try:
        with run_session(run) as session:
            step.check(session)  # done before (a replay): nothing below runs
            principal, row = principal_with(
                session, run["user_id"], run["key_id"], FlowRun, run["run_id"]
            )
            ctx = Ctx(session, principal)
            ctx.principal.audit_detail = {"run_id": run["run_id"], "step": name}
            _in_run(ctx.session, run, name)
            begun = time.time()
            if limits.get("forward"):
                if row is not None and row.cancel_requested_at is not None:
                    raise actions.ActionError("cancelled", "the run was cancelled")
                run_deadline = (
                    run_row.run_deadline(ctx.session, row, limits) if row is not None else None
                )
                if run_deadline is not None and begun >= run_deadline:
                    raise actions.ActionError("run_timeout", "the run's timeout passed")
                deadline = run_deadline
            if limits.get("timeout"):
                deadline = min(deadline or float("inf"), begun + limits["timeout"])
            if deadline is not None and ctx.session.get_bind().dialect.name == "postgresql":
                left_ms = max(int((deadline - begun) * 1000), 1)
                ctx.session.execute(text(f"SET LOCAL statement_timeout = {left_ms}"))
            attempt = run_row.attempts(ctx.session, run["run_id"], name)
            context = actions.ActionContext(
                ctx.session, ctx.principal, run["org_id"], run["run_id"], name, deadline
            )
            output = actions.call(action, context, args)
            if deadline is not None and time.time() > deadline:
                code = "run_timeout" if deadline == run_deadline else "timeout"
                raise actions.ActionError(code, "the attempt ran past its deadline; undone")
            # before the run's events: on PostgreSQL their append holds the events table's
            # lock to the commit, and the checkpoint's two statements need not be under it
            step.checkpoint(ctx.session, output)
            record = {
                "action": action,
                "status": "completed",
                "attempts": attempt,
                "output": output,
                "error": None,
                "finished_at": now().isoformat(),
            }
            # the run's last step: its end commits with it (the step's event, then the end's)
            end = [{"status": "completed", "error": None, "finished_at": now()}]
            run_row.record(
                ctx.session,
                run["run_id"],
                *(end if limits.get("finish") else ()),
                step=(name, record),
            )
            return output
    except CheckpointFailed:
        raise  # DBOS's (the run is another execution's now): nothing to record
    except Exception as exc:  # recorded, then raised as an ActionError (or tried again)
        if not last and lost_race(exc) and (deadline is None or time.time() < deadline):
            raise _Raced from exc
        error = exc if isinstance(exc, actions.ActionError) else _as_error(exc)
        if deadline is not None and time.time() >= deadline and error.code != "cancelled":
            # e.g. PostgreSQL's statement_timeout cancelled the action's query
            code = "run_timeout" if deadline == run_deadline else "timeout"
            error = actions.ActionError(code, f"the attempt ran past its deadline: {error.message}")
        with run_session(run) as session:
            if error.code == "cancelled":
                record = {"action": action, "status": "cancelled", "error": None}
            else:
                record = {
                    "action": action,
                    "status": "failed",
                    "attempts": run_row.attempts(session, run["run_id"], name),
                    "error": {"code": error.code, "message": error.message},
                }
            run_row.record(session, run["run_id"], step=(name, record))
        raise error from None


def _in_run(session, run: dict, name: str) -> None:
    """Events a step's action appends (a user deactivated) belong to the run."""
    session.info[event_store.CORRELATION] = run["run_id"]
    session.info[event_store.CAUSATION] = f"{run['run_id']}/{name}"


def _as_error(exc: Exception) -> actions.ActionError:
    from qylon_cli.errors import QylonError

    from ..deps import ActorNotFound

    if isinstance(exc, ActorNotFound):
        return actions.ActionError("not_allowed", str(exc))
    if isinstance(exc, QylonError):  # a plugin's action failing the way it knows how
        return actions.ActionError(exc.code, exc.message[:500])
    log.exception("workflow step failed unexpectedly")
    return actions.ActionError("internal_error", f"{type(exc).__name__}: {exc}"[:500])


def mark(run: dict, **changes) -> None:
    """Write ``changes`` to the run's record (``run_row.record``) in a transaction of its own."""
    with run_session(run) as session:
        run_row.record(session, run["run_id"], **changes)
