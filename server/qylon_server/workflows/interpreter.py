"""The one DBOS workflow, ``qylon.run``: it interprets a definition's steps in order.

The run's payload (JSON) holds its id, organisation, actor (user and key), the
definition's YAML text and the inputs; the text is part of the payload, so a run
recovered after a crash replays the definition it started with, not a newer upload.

Each attempt of an action is one DBOS step (``checkpoint.transactional``: DBOS's check
and its checkpoint run in the attempt's transaction; ``one_attempt``, which
also tries a transaction that lost a race again); the interpreter retries
per the definition (backoff capped at ``max_interval``, waits recorded by DBOS, so a
recovered run skips completed attempts and resumes a wait with the time left). Every
attempt opens one transaction of the organisation as the starter (the actor rebuilt as
``tenancy.acting_as`` does):
the action's changes and the step's record in ``flow_runs`` commit together, and an
attempt that runs past its deadline (the step's ``timeout`` or the run's) is rolled back.

Between steps the run is checked (in the attempt's transaction, or a durable ``gate`` at
a wait): a cancel asked for (``flow_runs.cancel_requested_at``) or the run's deadline
passed stops it. When a step fails for good, or the run is stopped, the compensations of
the completed steps run in reverse order (they ignore cancels and the run's deadline).
The run ends:

- ``completed``: every step ran (or was skipped by its ``if``);
- ``compensated``: a step failed and every compensation of the steps before it ran;
- ``cancelled`` / ``timed_out``: stopped, and every compensation ran;
- ``failed``: a step failed and there was nothing to undo, or a compensation failed too.

A step's wait longer than the ``workflow_park_after`` setting parks the run (``_park``):
this DBOS workflow ends, and a continuation (workflow ``RUN~N``, delayed until the wait
ends) runs this same function from that step, its payload carrying what the run did so
far (``carry``). Only runs enqueued with ``parkable`` park, so a run started before
parking existed replays the calls it made.

The order of durable calls is fixed; changing it needs a new ``engine.APP_VERSION``, or
a new ``order`` in the payload of the runs enqueued from then on (a run replays in the
order it was enqueued with). Order 1: start, then each step's, then compensations, then
finish. Order 2 (``service.start`` since parking): no start call (the first step's
transaction records the start, ``started_at``), and no finish call when the last step is
an action that completes (its transaction records the end). Order 3: as 2, and a
forward step's retry backoff longer than ``workflow_park_after`` parks the run (its
gate records the step ``retrying`` on ``clock``); the continuation waits out the rest
of the backoff and goes on with the next attempt (``carry["attempt"]``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from dbos import DBOS

from qylon_cli.workflow_defs import (
    Compensation,
    Definition,
    Retry,
    Step,
    WorkflowInvalid,
    load,
    seconds,
)

from ..events import projections
from ..models import FlowRun, now
from . import actions, engine, run_row, templates
from .attempts import mark, one_attempt, run_session
from .checkpoint import transactional

log = logging.getLogger("qylon_server.workflows")
CLOCK = engine.CLOCK
BOOK_RETRIES = {
    "retries_allowed": True,
    "max_attempts": 4,
    "interval_seconds": 0.5,
    "backoff_rate": 2.0,
}


def _book(name: str) -> dict:
    """The DBOS options of a bookkeeping step (a look at the run, a status written): one
    transaction, undone when it fails, so it is tried again (DBOS's step retries) rather
    than failing the run. A database error escaping such a step used to end the DBOS
    workflow in ERROR with the run left ``enqueued`` or ``running`` for good."""
    return {"name": name, **BOOK_RETRIES}


def _gate(run: dict, limits: dict, record: tuple | None = None) -> dict:
    """A durable look at the run between steps: the time, whether a cancel was asked for
    and the run's deadline (a resumed run's counts from its resume); ``record`` updates a
    step on the way. The answer is checkpointed, so a recovered run decides the same way."""
    with run_session(run) as session:
        row = session.get(FlowRun, run["run_id"])
        if record:
            run_row.record(session, run["run_id"], step=record)
        return {
            "now": time.time(),
            "cancel": row.cancel_requested_at is not None,
            "deadline": run_row.run_deadline(session, row, limits),
        }


def _mark_skipped(run: dict, name: str) -> None:
    mark(run, step=(name, {"status": "skipped", "attempts": 0, "output": None}))


class Stop(Exception):
    """The run stops before its next step: ``cancelled`` or ``timed_out``."""

    def __init__(self, status: str, step: str, message: str):
        super().__init__(message)
        self.status, self.step, self.message = status, step, message


def _describe(exc: BaseException) -> dict:
    """A failure as {code, message}: an action's error, or what DBOS made of it."""
    code = getattr(exc, "code", None)
    return {
        "code": code if isinstance(code, str) else "failed",
        "message": str(getattr(exc, "message", None) or exc)[:1000],
    }


def _is_cancel(message: Any) -> bool:
    return isinstance(message, dict) and message.get("cancel") is True


class Parked(Exception):
    """A step's wait, ending at ``end``, is long: the run parks until ``wake`` (``end``, or
    the run's deadline when that comes first) (``_park``). ``attempt``: the wait is a
    retry's backoff, and the continuation goes on with that attempt."""

    def __init__(self, end: float, wake: float, topic: str):
        super().__init__(f"parked until {wake}")
        self.end, self.wake, self.topic = end, wake, topic
        self.attempt: int | None = None


def _pause(
    run: dict,
    name: str,
    topic: str,
    seconds_: float,
    limits: dict,
    record=None,
    until=None,
    park: bool = False,
):
    """Wait up to ``seconds_`` (or until the epoch time ``until``) for a message on
    ``topic`` (DBOS records the wait, so a
    restarted server resumes it with the time left). Returns the message, or None when
    the time is up. A forward step's wait ends at the run's deadline (``Stop``) and at a
    cancel (``Stop``; a cancel marker left from before a resume is ignored). With
    ``park``, a wait longer than the ``workflow_park_after`` setting with no message yet
    raises ``Parked`` instead of holding a thread and a queue slot."""
    forward = limits.get("forward")
    gate = DBOS.run_step(_book(f"{name}.gate"), _gate, run, limits, record)
    end = gate["now"] + seconds_ if until is None else until
    while True:
        if forward and gate["cancel"]:
            raise Stop("cancelled", name, "the run was cancelled")
        deadline = gate["deadline"] if forward else None
        until = end if deadline is None else min(end, deadline)
        planned = max(until - gate["now"], 0.0)  # checkpointed: a replay decides alike
        parks = park and run.get("parkable") and planned > engine.settings().workflow_park_after
        # the timeout from the clock, not the gate: DBOS records the wait's end at recv's
        # first call (a replay keeps it), and a SIGKILL between the gate and that record
        # (a short window a test hit) must not start the whole wait again after a restart
        left = 0.0 if parks else max(until - time.time(), 0.0)
        message = DBOS.recv(topic, timeout_seconds=left)
        if parks and message is None:  # nothing came yet: wait parked
            raise Parked(end, until, topic)
        if message is None and until < end:
            raise Stop("timed_out", name, "the run's timeout passed")
        if not _is_cancel(message):
            return message
        if not forward:
            return None  # compensations always finish: a cancel only shortens their wait
        gate = DBOS.run_step(_book(f"{name}.gate"), _gate, run, limits)


def _run_action(
    run: dict,
    name: str,
    action: str,
    args: dict,
    retry: Retry | None,
    limits: dict,
    resume: tuple[int, float] | None = None,
) -> dict:
    """The attempts of one action, each a DBOS step (checkpointed: a recovered run does
    not repeat a completed attempt), with the definition's backoff between them, capped
    at ``max_interval``. A wait between attempts is durable and ends early at ``clock``.
    A forward step's backoff longer than ``workflow_park_after`` parks the run (runs of
    order 3 on): ``resume`` (attempt, end) is its continuation going on with that attempt
    once the backoff, ending at ``end``, is over."""
    attempts = retry.max_attempts if retry else 1
    interval = float(seconds(retry.initial_interval)) if retry else 0.0
    cap = float(seconds(retry.max_interval)) if retry else 0.0
    record = (name, {"status": "retrying", "signal": CLOCK})
    parks = bool(limits.get("forward")) and run.get("order", 1) >= 3
    first = 1
    if resume is not None:  # the backoff it parked in, to its end (it may park again)
        first = resume[0]
        _backoff(run, name, 0.0, limits, record, first, until=resume[1])
    for attempt in range(first, attempts + 1):
        try:
            return transactional(name, one_attempt, run, name, action, args, limits)
        except Exception as exc:
            code = _describe(exc)["code"]
            if code == "cancelled":
                raise Stop("cancelled", name, "the run was cancelled") from None
            if code == "run_timeout":
                raise Stop("timed_out", name, "the run's timeout passed") from None
            retried = retry is not None and (not retry.retry_on or code in retry.retry_on)
            if attempt == attempts or not retried:
                raise
        wait = min(interval * retry.backoff_rate ** (attempt - 1), cap)
        if parks:
            _backoff(run, name, wait, limits, record, attempt + 1)
        else:  # as runs enqueued before retries parked waited (their durable calls)
            _pause(run, name, CLOCK, wait, limits, (name, {"status": "retrying"}))
    raise AssertionError("unreachable")


def _backoff(
    run: dict, name: str, wait: float, limits: dict, record: tuple, attempt: int, until=None
) -> None:
    """A retry's backoff before ``attempt``: a parkable wait on ``clock``."""
    try:
        _pause(run, name, CLOCK, wait, limits, record, until, park=True)
    except Parked as parked:
        parked.attempt = attempt
        raise


def _scope(definition: Definition, run: dict, results: dict) -> dict:
    inputs = {
        key: field.default
        for key, field in definition.input.items()
        if field.default is not None and key not in run["input"]
    }
    return {"input": {**inputs, **run["input"]}, "steps": results}


def _compensate(run: dict, done: list[Step], scope: dict) -> list[str]:
    """The compensations of ``done``, newest first; the names of those that failed."""
    failed = []
    for step in reversed(done):
        comp: Compensation | None = step.compensate or _plugin_undo(step)
        if comp is None:
            continue
        name = f"{step.name}.compensate"
        limits = {"forward": False, "timeout": seconds(comp.timeout) if comp.timeout else None}
        try:
            if comp.action.startswith(actions.UNDO):  # the plugin's own, with what it gave
                args = {
                    "with": templates.render(step.with_ or {}, scope),
                    "output": scope["steps"][step.name]["output"],
                }
            else:
                args = templates.render(comp.with_, scope)
            _run_action(run, name, comp.action, args, comp.retry, limits)
        except Exception as exc:  # noqa: BLE001 - recorded; the others still run
            failed.append(name)
            DBOS.run_step(
                _book(f"{name}.failed"),
                mark,
                run,
                step=(name, {"status": "failed", "error": _describe(exc)}),
            )
    return failed


def _plugin_undo(step: Step) -> Compensation | None:
    """A plugin action's own ``compensate=`` for a step that names none (retried as the
    step is)."""
    undo = actions.plugin_compensation(step.action) if step.action else None
    if undo is None:
        return None
    # not validated: ``undo:NAME`` is no name a definition may write
    return Compensation.model_construct(
        action=undo, with_={}, retry=step.retry, timeout=step.timeout
    )


def _until(step: Step, scope: dict) -> float:
    """A ``sleep_until`` step's time (epoch seconds): its template, an ISO 8601 timestamp
    (with its offset; one without is UTC)."""
    value = templates.render(step.sleep_until, scope)
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise actions.ActionError("invalid_input", f"sleep_until: {value!r} is no timestamp")
    return run_row.epoch(when)


def _wait(
    run: dict, step: Step, limits: dict, scope: dict | None = None, end: float | None = None
) -> Any:
    """A ``sleep`` or ``sleep_until`` (a wait on the ``clock`` topic, so that sending
    ``clock`` ends it early) or a ``wait_for`` (the signal's payload is the output; none
    in time fails the step with ``timeout``). ``end``: a parked run's continuation goes
    on with the wait it parked in, which ends then (recorded again: a continuation
    resumed after a cancel waits again)."""
    until = end
    if step.sleep_until is not None:
        topic, timeout, state = CLOCK, 0, "sleeping"
        if until is None:
            until = _until(step, scope or {})
    elif step.sleep is not None:
        topic, timeout, state = CLOCK, seconds(step.sleep), "sleeping"
    else:
        topic, timeout, state = step.wait_for.signal, seconds(step.wait_for.timeout), "waiting"
    record = (step.name, {"action": None, "status": state, "attempts": 1, "signal": topic})
    if until is not None:
        record[1]["until"] = datetime.fromtimestamp(until, UTC).isoformat()
    message = _pause(run, step.name, topic, float(timeout), limits, record, until, park=True)
    if step.wait_for is not None and message is None:
        raise actions.ActionError("timeout", f"no {topic!r} signal within {step.wait_for.timeout}")
    output = message.get("payload") if isinstance(message, dict) else None
    DBOS.run_step(
        _book(step.name),
        mark,
        run,
        step=(step.name, {"status": "completed", "output": output, "error": None}),
    )
    return output


def _park(run: dict, name: str, target: str, payload: dict, wake: float, topic: str) -> str:
    """Hand the run over to ``target``, its continuation: a DBOS workflow of the same
    interpreter, delayed until ``wake`` (the wait's end, or the run's deadline when that
    comes first), that goes on from the parked step with
    what the run did so far (``payload["carry"]``). In one transaction, on the run's
    locked row: the continuation is enqueued, the messages the run has not read move to it
    (a signal sent early waits there for its step) and the row records it
    (``engine_id``), so a signal or a cancel sent after this reaches the continuation,
    and one sent before is among the messages moved. A message already waiting on the
    step's own topic starts the continuation at once. Done again after a crash, it finds
    the row already handed over and does nothing."""
    client = engine.shared_client()
    with run_session(run) as session:
        row = projections.lock_run(session, run["run_id"])
        if row.engine_id == target:
            return target
        source = engine.current_id(row)
        early = topic in engine.unread_topics(session, client, source)
        client.enqueue_in_transaction(
            session,
            {
                "queue_name": engine.QUEUE,
                "workflow_name": engine.WORKFLOW,
                "workflow_id": target,
                "app_version": engine.APP_VERSION,
                "delay_seconds": 0.0 if early else max(wake - time.time(), 0.0),
            },
            payload,
        )
        engine.move_messages(session, client, source, target)
        when = datetime.fromtimestamp(payload["carry"]["end"], UTC).isoformat()
        run_row.record(session, run["run_id"], engine_id=target, step=(name, {"parked": when}))
    return target


def _started(run: dict) -> float:
    mark(run, status="running")
    return time.time()


@lru_cache(maxsize=256)
def _definition(text_: str, source: str) -> Definition:
    """A run's definition, parsed and checked once per text (runs of one definition share
    it; nothing changes a loaded definition)."""
    return load(text_, source)


@DBOS.workflow(name=engine.WORKFLOW)
def run(run: dict) -> dict:
    """Interpret ``run["definition"]`` with ``run["input"]``; returns {status, error, step,
    compensated, failed_compensations} (what ``resume`` reads to know where to go on)."""
    try:
        definition = _definition(run["definition"], f"{run['name']} v{run['version']}")
    except WorkflowInvalid as exc:  # checked at upload; a stricter checker since may refuse it
        error = f"the definition no longer loads: {exc.message}"[:2000]
        DBOS.run_step(_book("finish"), mark, run, status="failed", error=error, finished_at=now())
        return {"status": "failed", "error": error, "step": None}
    carry = run.get("carry")  # a parked run's continuation: where and how it parked
    folds = run.get("order", 1) >= 2  # start and finish ride on the first and last steps
    if carry is None:
        started = None if folds else DBOS.run_step(_book("start"), _started, run)
        results: dict[str, dict] = {}
        first, done_names = 0, []
    else:
        started, results = carry["started"], carry["results"]
        first, done_names = carry["index"], carry["done"]
    run_timeout = float(seconds(definition.timeout)) if definition.timeout else None
    scope = _scope(definition, run, results)
    done: list[Step] = [s for s in definition.steps if s.name in done_names]
    failure: dict | None = None
    stopped: str | None = None  # cancelled or timed_out
    last = len(definition.steps) - 1
    finished = False  # the last step's transaction recorded the run's end
    for index, step in enumerate(definition.steps):
        if index < first:
            continue
        limits = {
            "forward": True,
            "started": started,
            "run_timeout": run_timeout,
            "timeout": float(seconds(step.timeout)) if step.timeout else None,
            "finish": folds and index == last,
        }
        attempted = False
        try:
            if carry is not None and index == first and carry.get("attempt"):
                # the retry's backoff it parked in, then the attempts left
                args = templates.render(step.with_ or {}, scope)
                attempted = True
                resume = (carry["attempt"], carry["end"])
                output = _run_action(run, step.name, step.action, args, step.retry, limits, resume)
                finished = limits["finish"]
            elif carry is not None and index == first:  # the wait it parked in
                output = _wait(run, step, limits, scope, end=carry["end"])
            elif step.if_ is not None and not templates.condition(step.if_, scope):
                DBOS.run_step(_book(f"{step.name}.skipped"), _mark_skipped, run, step.name)
                results[step.name] = {"status": "skipped", "output": None, "error": None}
                continue
            elif step.kind in ("sleep", "sleep_until", "wait_for"):
                output = _wait(run, step, limits, scope)
            else:
                args = templates.render(step.with_ or {}, scope)
                attempted = True  # from here on, each attempt records itself
                output = _run_action(run, step.name, step.action, args, step.retry, limits)
                finished = limits["finish"]
        except Parked as parked:
            n = (carry or {}).get("n", 0) + 1
            target = engine.continuation_id(run["run_id"], n)
            state = {"n": n, "index": index, "end": parked.end, "started": started}
            state |= {"results": results, "done": [s.name for s in done]}
            if parked.attempt is not None:
                state["attempt"] = parked.attempt
            DBOS.run_step(
                _book(f"{step.name}.park"),
                _park,
                run,
                step.name,
                target,
                {**run, "carry": state},
                parked.wake,
                parked.topic,
            )
            return {"status": "parked", "engine_id": target, "error": None, "step": step.name}
        except Stop as stop:
            stopped = stop.status
            failure = {"step": stop.step, "code": stop.status, "message": stop.message}
            results[step.name] = {"status": stop.status, "output": None, "error": failure}
            DBOS.run_step(
                _book(f"{step.name}.stopped"),
                mark,
                run,
                step=(step.name, {"status": stop.status, "error": failure}),
            )
            break
        except Exception as exc:  # noqa: BLE001 - the run ends compensated or failed
            failure = {"step": step.name, **_describe(exc)}
            if not attempted:
                DBOS.run_step(
                    _book(f"{step.name}.failed"),
                    mark,
                    run,
                    step=(step.name, {"status": "failed", "error": _describe(exc)}),
                )
            results[step.name] = {"status": "failed", "output": None, "error": failure}
            break
        results[step.name] = {"status": "completed", "output": output, "error": None}
        done.append(step)
    undone = [s.name for s in done if s.compensate is not None or _plugin_undo(s)]
    failed_compensations = _compensate(run, done, scope) if failure else []
    if failure is None:
        status = "completed"
    elif failed_compensations:
        status = "failed"
    elif stopped:
        status = stopped
    else:
        status = "compensated" if undone else "failed"
    error = (
        None if failure is None else f"{failure['step']}: {failure['code']}: {failure['message']}"
    )
    if not finished:
        DBOS.run_step(_book("finish"), mark, run, status=status, error=error, finished_at=now())
    return {
        "status": status,
        "error": error,
        "step": failure["step"] if failure else None,
        "compensated": [n for n in undone if f"{n}.compensate" not in failed_compensations],
        "failed_compensations": failed_compensations,
    }
