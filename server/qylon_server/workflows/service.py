"""Workflow definitions and runs for routes: upload, list, start, read.

A run is started inside the request's transaction: the ``flow_runs`` row, the audit
event and DBOS's queue entry (``DBOSClient.enqueue_in_transaction``) commit together, so
a failed request leaves no run behind. A server process with an executor id picks it up.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qylon_cli.workflow_defs import Definition, WorkflowInvalid, load

from ..errors import ApiError, not_found
from ..events import projections
from ..models import FlowDefinition, FlowRun
from ..services import audit
from . import actions, engine

STATUSES = ("enqueued", "running", "completed", "compensated", "failed")


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
    same = session.scalar(
        select(FlowDefinition).where(
            FlowDefinition.name == definition.name, FlowDefinition.version == definition.version
        )
    )
    if same is not None:
        if same.sha256 == digest:
            return same, False
        raise ApiError(
            409,
            f"Version {definition.version} of {definition.name} exists with other content.",
            code="conflict",
            hint="Raise `version:` in the file to upload a changed definition.",
        )
    newest = latest(session, definition.name)
    if newest is not None and newest.version > definition.version:
        raise ApiError(
            409,
            f"{definition.name} is at version {newest.version}; "
            f"version {definition.version} is older.",
            code="conflict",
            hint=f"Give the file version {newest.version + 1} or more.",
        )
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
    if version is None:
        row = latest(session, name)
    else:
        row = session.scalar(
            select(FlowDefinition).where(
                FlowDefinition.name == name, FlowDefinition.version == version
            )
        )
    if row is None:
        raise not_found("Workflow")
    definition = load(row.text, f"{row.name} v{row.version}")
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


def list_runs(session: Session, *, status: str | None, name: str | None, limit: int, offset: int):
    stmt = select(FlowRun)
    if status:
        stmt = stmt.where(FlowRun.status == status)
    if name:
        stmt = stmt.where(FlowRun.name == name)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(
        stmt.order_by(FlowRun.created_at.desc(), FlowRun.id).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total or 0)


def engine_status(client, run_id: str) -> dict | None:
    """DBOS's own record of a run (its status, executor, version), or None when it has
    none (committed runs always do) or its tables cannot be read."""
    try:
        status = client.retrieve_workflow(run_id).get_status()
    except Exception:  # noqa: BLE001 - extra detail only; the run's row is the answer
        return None
    return {
        "status": status.status,
        "executor_id": status.executor_id,
        "app_version": status.app_version,
        "recovery_attempts": status.recovery_attempts,
    }


def signal(session: Session, principal, client, *, run_id: str, name: str, payload) -> FlowRun:
    """Send signal ``name`` to a run, in the request's transaction: a ``wait_for`` step
    waiting for it takes ``payload`` as its output (``clock`` ends a ``sleep``). A run not
    waiting for it (yet) keeps it for its next wait on that name; a finished run ignores it."""
    run = session.get(FlowRun, run_id)
    if run is None:
        raise not_found("Workflow run")
    client.send_in_transaction(session, run.id, {"payload": payload}, topic=name)
    audit.record(
        session,
        principal,
        "workflow.run.signal",
        target_type="workflow_run",
        target_id=run.id,
        detail={"signal": name},
    )
    return run
