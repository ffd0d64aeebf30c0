"""Workflow definitions and runs for routes: upload, list, start, read.

A run is started inside the request's transaction: the ``flow_runs`` row, the audit
event and DBOS's queue entry (``DBOSClient.enqueue_in_transaction``) commit together, so
a failed request leaves no run behind. A server process with an executor id picks it up.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qylon_cli.workflow_defs import Definition, WorkflowInvalid, load

from ..db import after_commit
from ..deps import ActorNotFound, principal_for
from ..errors import ApiError, not_found
from ..events import projections
from ..models import FlowDefinition, FlowRun, now
from ..services import audit, versions
from . import actions, engine, templates

# a step's statuses while it waits (it may be parked): a retry's backoff waits on clock
WAITING = ("sleeping", "waiting", "retrying")
STATUSES = ("enqueued", "running", "completed", "compensated", "cancelled", "timed_out", "failed")
STOPPED = ("failed", "cancelled", "timed_out")
GAVE_UP = ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
FINISHED = ("completed", "compensated", "cancelled", "timed_out", "failed")


def _actions_known(definition: Definition) -> None:
    unknown = sorted(
        {
            name
            for step in definition.steps
            for name in (step.action, step.compensate.action if step.compensate else None)
            if name and not actions.exists(name)
        }
    )
    if unknown:
        raise ApiError(
            422,
            f"Unknown action(s): {', '.join(unknown)}.",
            code="workflow_invalid",
            hint=f"The server's actions: {', '.join(actions.names())}.",
        )


def upload(session: Session, principal, *, text: str) -> tuple[FlowDefinition, bool]:
    """Store a definition's text; (row, created). A name's version is stored once: the
    same text again changes nothing, other text under an existing version is refused."""
    try:
        definition = load(text, "upload")
    except WorkflowInvalid as exc:
        raise ApiError(422, exc.message, code="workflow_invalid", hint=exc.hint) from None
    _actions_known(definition)
    digest = hashlib.sha256(text.encode()).hexdigest()
    same = versions.stored(
        session, FlowDefinition, name=definition.name, version=definition.version, digest=digest
    )
    if same is not None:
        return same, False
    row = FlowDefinition(
        name=definition.name,
        version=definition.version,
        sha256=digest,
        description=definition.description,
        text=text,
        created_by=principal.user.id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        principal,
        "workflow.upload",
        target_type="workflow",
        target_id=row.id,
        detail={"name": row.name, "version": row.version, "sha256": digest},
    )
    return row, True


def latest(session: Session, name: str) -> FlowDefinition | None:
    return session.scalar(
        select(FlowDefinition)
        .where(FlowDefinition.name == name)
        .order_by(FlowDefinition.version.desc())
        .limit(1)
    )


def ship(session: Session, principal, name: str, version: int, text: str) -> None:
    """Store a definition the server ships (``text``, ``name`` v``version``) in the
    organisation, once: before its first run there."""
    if find(session, name, version) is None:
        upload(session, principal, text=text)


def event_actor(session: Session, event):
    """The person (and key) whose request appended ``event``, to start runs as; None for
    the system's events and for a person since deactivated."""
    if not event.actor:
        return None
    try:
        return principal_for(session, event.actor["user_id"], event.actor["key_id"])
    except ActorNotFound:
        return None


def find(session: Session, name: str, version: int | None) -> FlowDefinition | None:
    """Version ``version`` of ``name``, or its newest."""
    if version is None:
        return latest(session, name)
    return session.scalar(
        select(FlowDefinition).where(FlowDefinition.name == name, FlowDefinition.version == version)
    )


def _inputs(definition: Definition, given: dict) -> dict:
    unknown = sorted(set(given) - set(definition.input))
    if unknown:
        raise ApiError(
            422,
            f"Unknown input(s): {', '.join(unknown)}.",
            code="invalid_input",
            hint=f"{definition.name} takes: {', '.join(definition.input) or 'no input'}.",
        )
    types = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "object": dict,
        "array": list,
    }
    for key, field in definition.input.items():
        if key not in given:
            if field.required:
                raise ApiError(422, f"Input {key} is required.", code="invalid_input")
            continue
        value = given[key]
        wrong = not isinstance(value, types[field.type]) or (
            isinstance(value, bool) and field.type in ("integer", "number")
        )
        if wrong:
            raise ApiError(422, f"Input {key} must be of type {field.type}.", code="invalid_input")
        if field.enum is not None and value not in field.enum:
            raise ApiError(422, f"Input {key} must be one of {field.enum}.", code="invalid_input")
    return given


def start(
    session: Session,
    principal,
    client,
    *,
    name: str,
    inputs: dict,
    version: int | None = None,
    idempotency_key: str | None = None,
) -> tuple[FlowRun, bool]:
    """Start a run of ``name`` (its newest version unless ``version``); (row, created)."""
    digest = hashlib.sha256(
        json.dumps({"name": name, "version": version, "input": inputs}, sort_keys=True).encode()
    ).hexdigest()
    if idempotency_key:
        previous = session.scalar(select(FlowRun).where(FlowRun.idempotency_key == idempotency_key))
        if previous is not None:
            if previous.request_hash != digest:
                raise ApiError(
                    409,
                    "This Idempotency-Key was used to start a different run.",
                    code="idempotency_key_reused",
                    hint="Use a new key for each run.",
                )
            return previous, False
    row = find(session, name, version)
    if row is None:
        raise not_found("Workflow")
    definition = _parsed(row.text, f"{row.name} v{row.version}")
    _inputs(definition, inputs)
    run = projections.enqueue_run(  # the run's first event, and its flow_runs row
        session,
        principal,
        f"run-{uuid.uuid4()}",
        {
            "definition_id": row.id,
            "name": row.name,
            "version": row.version,
            "status": "enqueued",
            "input": inputs,
            "subject": _subject(definition, inputs),
            "idempotency_key": idempotency_key,
            "request_hash": digest,
            "user_id": principal.user.id,
            "key_id": principal.key.id,
        },
    )
    session.flush()
    audit.record(
        session,
        principal,
        "workflow.run.start",
        target_type="workflow_run",
        target_id=run.id,
        detail={"name": row.name, "version": row.version},
    )
    payload = {
        "run_id": run.id,
        "org_id": principal.org_id,
        "user_id": principal.user.id,
        "key_id": principal.key.id,
        "name": row.name,
        "version": row.version,
        "sha256": row.sha256,
        "definition": row.text,
        "input": inputs,
        "parkable": True,  # long waits park (runs enqueued before could not: they block)
        # 2: no start and finish calls of their own; 3: a retry's long backoff parks
        # (interpreter.run)
        "order": 3,
    }
    client.enqueue_in_transaction(
        session,
        {
            "queue_name": engine.QUEUE,
            "workflow_name": engine.WORKFLOW,
            "workflow_id": run.id,
            "app_version": engine.APP_VERSION,
        },
        payload,
    )
    return run, True


@functools.lru_cache(maxsize=256)
def _parsed(text: str, source: str) -> Definition:
    """A stored definition, parsed once per process (a start used to spend a third of its
    time parsing the same YAML again); callers only read it."""
    return load(text, source)


def _subject(definition: Definition, inputs: dict) -> str | None:
    """The definition's ``subject:`` rendered from the run's input (with defaults)."""
    if not definition.subject:
        return None
    scope = {
        "input": {
            **{k: f.default for k, f in definition.input.items() if f.default is not None},
            **inputs,
        }
    }
    try:
        value = templates.render(definition.subject, scope)
    except templates.TemplateError as exc:
        raise ApiError(422, f"subject: {exc}", code="invalid_input") from None
    return None if value is None else str(value).strip()[:500] or None


def list_runs(
    session: Session,
    *,
    status: str | None,
    name: str | None,
    limit: int,
    offset: int,
    subject: str | None = None,
):
    stmt = select(FlowRun)
    if subject:
        stmt = stmt.where(FlowRun.subject == subject)
    if status:
        stmt = stmt.where(FlowRun.status == status)
    if name:
        stmt = stmt.where(FlowRun.name == name)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(
        stmt.order_by(FlowRun.created_at.desc(), FlowRun.id).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total or 0)


def engine_status(client, run: FlowRun) -> dict | None:
    """DBOS's own record of the workflow carrying a run (its status, executor, version;
    a parked run's continuation), or None when it has none (committed runs always do) or
    its tables cannot be read."""
    try:
        status = client.retrieve_workflow(engine.current_id(run)).get_status()
    except Exception:  # noqa: BLE001 - extra detail only; the run's row is the answer
        return None
    return {
        "workflow_id": status.workflow_id,
        "status": status.status,
        "executor_id": status.executor_id,
        "app_version": status.app_version,
        "recovery_attempts": status.recovery_attempts,
    }


def signal(session: Session, principal, client, *, run_id: str, name: str, payload) -> FlowRun:
    """Send signal ``name`` to a run, in the request's transaction: a ``wait_for`` step
    waiting for it takes ``payload`` as its output (``clock`` ends a ``sleep``). A run not
    waiting for it (yet) keeps it for its next wait on that name; a finished run ignores it."""
    run = _run(session, run_id)
    _send(session, client, run, name, {"payload": payload})
    audit.record(
        session,
        principal,
        "workflow.run.signal",
        target_type="workflow_run",
        target_id=run.id,
        detail={"signal": name},
    )
    return run


def _run(session: Session, run_id: str) -> FlowRun:
    """The run, its row locked (a run parking hands over its messages under that lock, so
    what is sent after reads where it went)."""
    if session.get(FlowRun, run_id) is None:
        raise not_found("Workflow run")
    return projections.lock_run(session, run_id)


def _send(session: Session, client, run: FlowRun, topic: str, message: dict) -> None:
    """Send ``message`` to the workflow carrying ``run`` now. A parked run whose step
    waits on ``topic`` (or any cancel) is woken once this commits."""
    target = engine.current_id(run)
    client.send_in_transaction(session, target, message, topic=topic)
    if run.engine_id is None:
        return
    parked = [
        s for s in (run.steps or {}).values() if s.get("parked") and s.get("status") in WAITING
    ]
    if message.get("cancel") or any(s.get("signal") == topic for s in parked):
        after_commit(session, lambda: engine.wake(client, target))


def cancel(session: Session, principal, client, *, run_id: str) -> FlowRun:
    """Ask a run to stop: it stops before its next step or attempt (a wait or a retry's
    backoff ends at once), its completed steps are compensated, and it ends
    ``cancelled``. Asking again changes nothing; a finished run answers 409."""
    run = _run(session, run_id)
    if run.status in FINISHED:
        raise ApiError(409, f"The run has already ended ({run.status}).", code="conflict")
    if run.cancel_requested_at is None:
        projections.record_run(session, principal, run.id, {"cancel_requested_at": now()}, run)
        # wake a wait: a sleep and a retry's backoff listen on the clock, wait_for on its signal
        topics = {engine.CLOCK} | {
            s["signal"]
            for s in (run.steps or {}).values()
            if s.get("status") == "waiting" and s.get("signal")
        }
        for topic in sorted(topics):
            _send(session, client, run, topic, {"cancel": True})
        audit.record(
            session,
            principal,
            "workflow.run.cancel",
            target_type="workflow_run",
            target_id=run.id,
            detail={"status": run.status},
        )
    return run


def _resume_from(client, run: FlowRun, result: dict) -> int:
    """The DBOS step a finished run goes on from: the first attempt of its first failed
    compensation, or else (nothing undone yet) the first durable call of the step that
    stopped it."""
    failed = result.get("failed_compensations") or []
    step = result.get("step")
    if failed:
        names = {failed[0]}
    elif step and not result.get("compensated"):
        names = None
    else:
        raise ApiError(
            409,
            f"The run ended {result.get('status')} and its steps were undone: "
            "there is nothing to resume.",
            code="conflict",
            hint="Start a new run.",
        )

    def belongs(name: str) -> bool:
        if names is not None:
            return name in names
        return name == step or (
            name.startswith(step + ".") and not name.startswith(step + ".compensate")
        )

    calls = client.list_workflow_steps(engine.current_id(run), load_output=False)
    ids = [c["function_id"] for c in calls if belongs(c["function_name"])]
    if not ids:
        raise ApiError(
            409, "The workflow engine has no step to resume this run from.", code="conflict"
        )
    return min(ids)


def resume(session: Session, principal, client, *, run_id: str) -> FlowRun:
    """Go on with a run that stopped: a ``failed``, ``cancelled`` or ``timed_out`` run
    whose steps were not undone goes on from the step that stopped it (its timeout counts
    again from now); a ``failed`` run whose compensation failed retries that compensation
    and the ones after it; a run the engine gave up on (``engine.status`` ERROR, CANCELLED
    or MAX_RECOVERY_ATTEMPTS_EXCEEDED) starts again from its last checkpoint.

    What the run did is read from DBOS (the interpreter's result), so a resume whose
    engine call was lost can be asked for again."""
    run = _run(session, run_id)
    carrier = engine.current_id(run)
    try:
        state = client.retrieve_workflow(carrier).get_status()
    except Exception:  # noqa: BLE001 - no record: nothing the engine can go on with
        state = None
    result = state.output if state is not None and isinstance(state.output, dict) else {}
    detail: dict = {"status": run.status}
    if state is not None and state.status == "SUCCESS" and result.get("status") in STOPPED:
        step = detail["from_step"] = _resume_from(client, run, result)

        def go_on() -> None:
            client.rewind_workflow(
                carrier,
                start_step=step,
                application_version=engine.APP_VERSION,
                queue_name=engine.QUEUE,
            )
    elif state is not None and state.status in GAVE_UP:
        detail["engine"] = state.status

        def go_on() -> None:
            client.resume_workflow(carrier, queue_name=engine.QUEUE)
    else:
        shown = result.get("status") or run.status
        raise ApiError(
            409,
            f"The run is {shown}"
            + (f" (engine: {state.status})" if state else "")
            + ": there is nothing to resume.",
            code="conflict",
            hint="Resume a failed, cancelled or timed-out run, or one the engine gave up on.",
        )
    changes = {
        "status": "enqueued",
        "error": None,
        "finished_at": None,
        "cancel_requested_at": None,
        "resumed_at": now(),
    }
    projections.record_run(session, principal, run.id, changes, run)
    audit.record(
        session,
        principal,
        "workflow.run.resume",
        target_type="workflow_run",
        target_id=run.id,
        detail=detail,
    )
    # once this commits (the run's gate must see the cancel cleared; SQLite could not take
    # DBOS's write while this request holds the lock); if DBOS then fails, the run stays
    # enqueued and asking again goes on from the same place
    after_commit(session, go_on)
    return run
