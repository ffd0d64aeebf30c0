"""The one DBOS workflow, ``qylon.run``: it interprets a definition's steps in order.

The run's payload (JSON) holds its id, organisation, actor (user and key), the
definition's YAML text and the inputs; the text is part of the payload, so a run
recovered after a crash replays the definition it started with, not a newer upload.

Each action step is one DBOS step (``DBOS.run_step``) with the definition's retries;
DBOS checkpoints its output, so a recovered run skips the steps already done. Every
attempt opens one transaction of the organisation as the starter (``tenancy.acting_as``):
the action's changes and the step's record in ``flow_runs`` commit together.

When a step fails for good, the compensations of the completed steps run in reverse
order (each a retried DBOS step). The run ends:

- ``completed``: every step ran (or was skipped by its ``if``);
- ``compensated``: a step failed and every compensation of the steps before it ran;
- ``failed``: a step failed and there was nothing to undo, or a compensation failed too.

The order of durable calls is fixed (start, then each step's, then compensations, then
finish); changing it needs a new ``engine.APP_VERSION``.
"""

from __future__ import annotations

import logging
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
from ..events import store as event_store
from ..models import FlowRun, now
from ..tenancy import acting_as, org_session
from . import actions, engine, templates

log = logging.getLogger("qylon_server.workflows")
CLOCK = "clock"  # the topic a sleep waits on: a message to it ends the sleep early


def _record(session, run_id: str, **changes) -> FlowRun:
    """Record ``changes`` to a run: an event in its stream, applied to its ``flow_runs``
    row (a projection of those events), in ``session``'s transaction."""
    row = session.get(FlowRun, run_id)
    if row is None:
        raise actions.ActionError("not_found", f"run {run_id} has no flow_runs row")
    starter = {"user_id": row.user_id, "key_id": row.key_id}
    return projections.record_run(session, starter, run_id, changes, row=row)


def _attempts(session, run_id: str, name: str) -> int:
    row = session.get(FlowRun, run_id)
    return int(((row.steps or {}).get(name) or {}).get("attempts", 0)) + 1


def _attempt(run: dict, name: str, action: str, args: dict) -> dict:
    """One attempt of one action, in one transaction with its record."""
    db = engine.database()
    try:
        with acting_as(
            db, org_id=run["org_id"], user_id=run["user_id"], key_id=run["key_id"]
        ) as ctx:
            ctx.principal.audit_detail = {"run_id": run["run_id"], "step": name}
            _in_run(ctx.session, run, name)
            attempt = _attempts(ctx.session, run["run_id"], name)
            context = actions.ActionContext(
                ctx.session, ctx.principal, run["org_id"], run["run_id"], name
            )
            output = actions.call(action, context, args)
            _record(
                ctx.session,
                run["run_id"],
                step=(
                    name,
                    {
                        "action": action,
                        "status": "completed",
                        "attempts": attempt,
                        "output": output,
                        "error": None,
                        "finished_at": now().isoformat(),
                    },
                ),
            )
            return output
    except Exception as exc:  # noqa: BLE001 - recorded, then raised as an ActionError
        error = exc if isinstance(exc, actions.ActionError) else _as_error(exc)
        with org_session(db, run["org_id"]) as session:
            _record(
                session,
                run["run_id"],
                step=(
                    name,
                    {
                        "action": action,
                        "status": "failed",
                        "attempts": _attempts(session, run["run_id"], name),
                        "error": {"code": error.code, "message": error.message},
                    },
                ),
            )
        raise error from None


def _in_run(session, run: dict, name: str) -> None:
    """Events a step's action appends (a user deactivated) belong to the run."""
    session.info[event_store.CORRELATION] = run["run_id"]
    session.info[event_store.CAUSATION] = f"{run['run_id']}/{name}"


def _as_error(exc: Exception) -> actions.ActionError:
    from ..deps import ActorNotFound

    if isinstance(exc, ActorNotFound):
        return actions.ActionError("not_allowed", str(exc))
    log.exception("workflow step failed unexpectedly")
    return actions.ActionError("internal_error", f"{type(exc).__name__}: {exc}"[:500])


def _mark(run: dict, **changes) -> None:
    with org_session(engine.database(), run["org_id"]) as session:
        _record(session, run["run_id"], **changes)


def _mark_skipped(run: dict, name: str) -> None:
    _mark(run, step=(name, {"status": "skipped", "attempts": 0, "output": None}))


def _step_options(name: str, retry: Retry | None) -> dict:
    if retry is None or retry.max_attempts <= 1:
        return {"name": name, "retries_allowed": False}
    options: dict[str, Any] = {
        "name": name,
        "retries_allowed": True,
        "max_attempts": retry.max_attempts,
        "interval_seconds": float(seconds(retry.initial_interval)),
        "backoff_rate": retry.backoff_rate,
    }
    if retry.retry_on:
        codes = set(retry.retry_on)
        options["should_retry"] = lambda exc: getattr(exc, "code", None) in codes
    return options


def _describe(exc: BaseException) -> dict:
    """A failure as {code, message}: an action's error, or what DBOS made of it."""
    errors = getattr(exc, "errors", None)  # DBOSMaxStepRetriesExceeded keeps each attempt's
    if errors:
        exc = errors[-1]
    code = getattr(exc, "code", None)
    return {
        "code": code if isinstance(code, str) else "failed",
        "message": str(getattr(exc, "message", None) or exc)[:1000],
    }


def _run_action(run: dict, name: str, action: str, args: dict, retry: Retry | None) -> dict:
    return DBOS.run_step(_step_options(name, retry), _attempt, run, name, action, args)


def _scope(definition: Definition, run: dict, results: dict) -> dict:
    inputs = {
        key: field.default
        for key, field in definition.input.items()
        if field.default is not None and key not in run["input"]
    }
    return {"input": {**inputs, **run["input"]}, "steps": results}


def _compensate(run: dict, done: list[Step], scope: dict) -> bool:
    """The compensations of ``done``, newest first; False when one of them failed."""
    ok = True
    for step in reversed(done):
        comp: Compensation | None = step.compensate
        if comp is None:
            continue
        name = f"{step.name}.compensate"
        try:
            args = templates.render(comp.with_, scope)
            _run_action(run, name, comp.action, args, comp.retry)
        except Exception as exc:  # noqa: BLE001 - recorded; the others still run
            ok = False
            DBOS.run_step(
                {"name": f"{name}.failed"},
                _mark,
                run,
                step=(name, {"status": "failed", "error": _describe(exc)}),
            )
    return ok


def _wait(run: dict, step: Step) -> Any:
    """A ``sleep`` (a wait on the ``clock`` topic, so that sending ``clock`` ends it early)
    or a ``wait_for`` (the signal's payload is the output; none in time fails the step
    with ``timeout``). DBOS records the wait; a restarted server resumes it."""
    if step.sleep is not None:
        topic, timeout, state = CLOCK, seconds(step.sleep), "sleeping"
    else:
        topic, timeout, state = step.wait_for.signal, seconds(step.wait_for.timeout), "waiting"
    DBOS.run_step(
        {"name": f"{step.name}.begin"},
        _mark,
        run,
        step=(step.name, {"action": None, "status": state, "attempts": 1}),
    )
    message = DBOS.recv(topic, timeout_seconds=float(timeout))
    if step.wait_for is not None and message is None:
        raise actions.ActionError("timeout", f"no {topic!r} signal within {step.wait_for.timeout}")
    output = message.get("payload") if isinstance(message, dict) else None
    DBOS.run_step(
        {"name": step.name},
        _mark,
        run,
        step=(step.name, {"status": "completed", "output": output, "error": None}),
    )
    return output


@DBOS.workflow(name=engine.WORKFLOW)
def run(run: dict) -> dict:
    """Interpret ``run["definition"]`` with ``run["input"]``; returns {status, error}."""
    try:
        definition = load(run["definition"], f"{run['name']} v{run['version']}")
    except WorkflowInvalid as exc:  # checked at upload; a stricter checker since may refuse it
        error = f"the definition no longer loads: {exc.message}"[:2000]
        DBOS.run_step(
            {"name": "finish"}, _mark, run, status="failed", error=error, finished_at=now()
        )
        return {"status": "failed", "error": error}
    DBOS.run_step({"name": "start"}, _mark, run, status="running")
    results: dict[str, dict] = {}
    scope = _scope(definition, run, results)
    done: list[Step] = []
    failure: dict | None = None
    for step in definition.steps:
        attempted = False
        try:
            if step.if_ is not None and not templates.condition(step.if_, scope):
                DBOS.run_step({"name": f"{step.name}.skipped"}, _mark_skipped, run, step.name)
                results[step.name] = {"status": "skipped", "output": None, "error": None}
                continue
            if step.sleep is not None or step.wait_for is not None:
                output = _wait(run, step)
            else:
                args = templates.render(step.with_ or {}, scope)
                attempted = True  # from here on, each attempt records itself
                output = _run_action(run, step.name, step.action, args, step.retry)
        except Exception as exc:  # noqa: BLE001 - the run ends compensated or failed
            failure = {"step": step.name, **_describe(exc)}
            if not attempted:
                DBOS.run_step(
                    {"name": f"{step.name}.failed"},
                    _mark,
                    run,
                    step=(step.name, {"status": "failed", "error": _describe(exc)}),
                )
            results[step.name] = {"status": "failed", "output": None, "error": failure}
            break
        results[step.name] = {"status": "completed", "output": output, "error": None}
        done.append(step)
    if failure is None:
        status = "completed"
    else:
        undone = [s for s in done if s.compensate is not None]
        status = "compensated" if undone and _compensate(run, done, scope) else "failed"
    error = (
        None if failure is None else f"{failure['step']}: {failure['code']}: {failure['message']}"
    )
    DBOS.run_step({"name": "finish"}, _mark, run, status=status, error=error, finished_at=now())
    return {"status": status, "error": error}
