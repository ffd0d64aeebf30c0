"""A DBOS step whose check and checkpoint run in the step's own transaction.

``DBOS.run_step`` spends three transactions on a step that writes to the database: its
check for a recorded result, the step's own, and its checkpoint (the result's row in
``operation_outputs``). DBOS's tables live in the server's own database (SQLite or
PostgreSQL), so ``transactional`` does both in the step's transaction instead: the
step's changes and its checkpoint commit together or not at all. A crash before the
commit leaves neither (the attempt runs again after recovery, as with ``run_step``);
after it, a replay finds the result and does not run the step again.

The step function takes ``step``, with two calls into that transaction:

- ``step.check(session)``, the first thing it does: DBOS's check (the run cancelled,
  a result recorded by an earlier execution). A recorded result ends the function
  there (nothing of it runs, nothing is written) and is what ``transactional`` returns
  (or raises, for a recorded error);
- ``step.checkpoint(session, result)``, the last thing before its commit.

A step that fails has nothing committed: its error is recorded in a transaction of its
own, as ``run_step`` records it, and replays raise it again.

This uses DBOS internals (the step context, its tables, ``_apply_caller_schema``; ``_check``
does what ``SystemDatabase._check_operation_execution_txn`` does, in one statement, and
``_record`` what ``_check_owner_txn`` and ``_record_operation_result_txn`` do, in one
statement): dbos is pinned to its minor version, and the workflow tests (kills included)
prove it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class CheckpointFailed(Exception):
    """DBOS's check or the checkpoint's write failed (the run cancelled, another
    execution owns it now): carries DBOS's own error, raised as it is, with nothing
    recorded."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


class Recorded(CheckpointFailed):
    """The step's result was recorded by an earlier execution: the step does not run
    again (``step.check``); ``transactional`` replays ``recorded``."""

    def __init__(self, recorded: dict):
        Exception.__init__(self, "recorded before")
        self.recorded = recorded


class Step:
    """What a ``transactional`` step function is given: ``check`` and ``checkpoint``
    (the module's docstring). Outside a workflow, neither does anything."""

    def __init__(self, check=None, checkpoint=None):
        self.check = check or (lambda session: None)
        self.checkpoint = checkpoint or (lambda session, output: None)


def transactional(name: str, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args, step=Step(...))`` as the workflow's next step, named ``name``; outside
    a workflow, just the call (``step``'s calls do nothing)."""
    from dbos._context import (
        EnterDBOSStepCtx,
        get_local_dbos_context,
        snapshot_step_context,
    )
    from dbos._dbos import _get_dbos_instance
    from dbos._serialization import (
        deserialize_exception,
        deserialize_value,
        serialize_exception,
        serialize_value,
    )

    current = get_local_dbos_context()
    if current is None or not current.is_workflow():
        return func(*args, step=Step())
    dbos = _get_dbos_instance()
    sys_db = dbos._sys_db
    step_ctx = snapshot_step_context()
    with EnterDBOSStepCtx({"name": name, "operationType": "step"}, step_ctx) as ctx:
        workflow_id, function_id = ctx.workflow_id, ctx.function_id
        result: dict[str, Any] = {
            "workflow_uuid": workflow_id,
            "function_id": function_id,
            "function_name": name,
            "output": None,
            "error": None,
            "serialization": None,
            "started_at_epoch_ms": int(time.time() * 1000),
            "child_workflow_id": None,
        }

        def check(session) -> None:
            try:
                sys_db._apply_caller_schema(session)
                recorded = _check(sys_db, session, workflow_id, function_id, name)
            except Exception as exc:
                raise CheckpointFailed(exc) from exc
            if recorded:
                raise Recorded(recorded)

        def checkpoint(session, output: Any) -> None:
            try:
                result["output"], result["serialization"] = serialize_value(
                    output, None, dbos._serializer
                )
                sys_db._apply_caller_schema(session)
                with sys_db._own_key(workflow_id):
                    _record(sys_db, session.connection(), result, int(time.time() * 1000))
            except Exception as exc:
                raise CheckpointFailed(exc) from exc

        try:
            return func(*args, step=Step(check, checkpoint))
        except Recorded as done:  # done before: replay its result
            recorded = done.recorded
            if recorded["error"] is not None:
                raise deserialize_exception(
                    recorded["error"], recorded["serialization"], dbos._serializer
                ) from None
            return deserialize_value(
                recorded["output"], recorded["serialization"], dbos._serializer
            )
        except CheckpointFailed as failed:
            raise failed.error from None
        except Exception as error:
            result["output"] = None
            result["error"], result["serialization"] = serialize_exception(
                error, None, dbos._serializer
            )
            sys_db.record_operation_result(result)
            raise


_CHECKS: dict[int, Any] = {}  # id(DBOS's workflow_status table) -> the check's SELECT


def _check(sys_db, session, workflow_id: str, function_id: int, name: str) -> dict | None:
    """``SystemDatabase._check_operation_execution_txn`` in one statement instead of two
    (the workflow's status, outer-joined to the step's recorded result), built once: the
    run cancelled raises ``DBOSWorkflowCancelledError``; a result recorded by an earlier
    execution is returned (``DBOSUnexpectedStepError`` when a step of another name
    recorded it); None on a first execution. A sharded system database (rows found by
    more than the workflow's id) gets DBOS's own."""
    import sqlalchemy as sa
    from dbos._error import DBOSUnexpectedStepError, DBOSWorkflowCancelledError
    from dbos._sys_db import WorkflowStatusString

    ws, oo = sys_db.tables.workflow_status, sys_db.tables.operation_outputs
    if sys_db._key_column(oo, "child_shard_key") is not None:
        with sys_db._own_key(workflow_id):
            return sys_db._check_operation_execution_txn(workflow_id, function_id, name, session)
    stmt = _CHECKS.get(id(ws))
    if stmt is None:
        step = (oo.c.workflow_uuid == ws.c.workflow_uuid) & (
            oo.c.function_id == sa.bindparam("function_id")
        )
        stmt = _CHECKS[id(ws)] = (
            sa.select(
                ws.c.status,
                oo.c.function_id,
                oo.c.output,
                oo.c.error,
                oo.c.function_name,
                oo.c.child_workflow_id,
                oo.c.serialization,
            )
            .select_from(ws.outerjoin(oo, step))
            .where(ws.c.workflow_uuid == sa.bindparam("workflow_uuid"))
        )
    found = session.connection().execute(
        stmt, {"workflow_uuid": workflow_id, "function_id": function_id}
    )
    row = found.first()
    assert row is not None, f"Error: Workflow {workflow_id} does not exist"
    if row.status == WorkflowStatusString.CANCELLED.value:
        raise DBOSWorkflowCancelledError(f"Workflow {workflow_id} is cancelled. Aborting function.")
    if row.function_id is None:  # nothing recorded
        return None
    if row.function_name != name:
        raise DBOSUnexpectedStepError(
            workflow_id=workflow_id,
            step_id=function_id,
            expected_name=name,
            recorded_name=row.function_name,
        )
    return {
        "output": row.output,
        "error": row.error,
        "serialization": row.serialization,
        "child_workflow_id": row.child_workflow_id,
        "child_shard_key": None,
    }


_INSERTS: dict[tuple, Any] = {}  # (DBOS's tables' id, dialect, owned) -> the step's INSERT
_COLUMNS = (
    "workflow_uuid",
    "function_id",
    "function_name",
    "started_at_epoch_ms",
    "completed_at_epoch_ms",
    "output",
    "error",
    "child_workflow_id",
    "serialization",
    "application_name",
)


def _insert(sys_db, owned: bool):
    """The step's row, stamped as DBOS stamps it (in the engine's SQL); ``owned``: only
    while the workflow's status row names the execution's owner (``INSERT ... SELECT
    ... WHERE EXISTS``), which it locks as ``_check_owner_txn`` does (PostgreSQL: FOR NO
    KEY UPDATE; SQLite: the insert takes the write lock before it reads)."""
    import sqlalchemy as sa

    ws, oo = sys_db.tables.workflow_status, sys_db.tables.operation_outputs
    key = (id(oo), sys_db.engine.dialect.name, owned)  # one table object serves every engine
    stmt = _INSERTS.get(key)
    if stmt is not None:
        return stmt
    if not owned:
        stmt = sa.insert(oo).values(retention_timestamp=sys_db._now_ms_sql())
    else:
        owner = (
            sa.select(ws.c.owner_xid)
            .where(
                ws.c.workflow_uuid == sa.bindparam("workflow_uuid"),
                ws.c.owner_xid == sa.bindparam("owner_xid"),
            )
            .limit(1)
        )
        if sys_db.engine.dialect.name == "postgresql":
            owner = owner.with_for_update(key_share=True)
        row = [sa.bindparam(c, type_=oo.c[c].type) for c in _COLUMNS]
        stmt = (
            sa.insert(oo)
            .from_select(
                [*_COLUMNS, "retention_timestamp"],
                sa.select(*row, sys_db._now_ms_sql()).where(owner.exists()),
            )
            .returning(oo.c.function_id)  # (psycopg's rowcount for it is -1)
        )
    _INSERTS[key] = stmt
    return stmt


def _record(sys_db, conn, result: dict[str, Any], completed_at: int) -> None:
    """``SystemDatabase._record_operation_result_txn`` for a step's first execution, in one
    statement that SQLAlchemy compiles once: DBOS's ownership check (``_check_owner_txn``,
    a statement of its own there) as the insert's condition, and a plain INSERT of the
    step's row (DBOS's own, an INSERT ... ON CONFLICT, is built and compiled again at every
    call: about 0.25 ms of CPU of a step's 5). No row inserted: another execution owns the
    workflow now (``DBOSWorkflowConflictIDError``, as DBOS raises it). The conflict DBOS
    handles is a row already there, which it calls nondeterminism unless it is its own
    retry's; a step here is no retry of its own (a failed transaction records nothing), so
    a row already there is that error too. A sharded system database (rows with more
    columns than these) gets DBOS's check and the plain insert."""
    import sqlalchemy as sa
    from dbos._context import current_owner_xid
    from dbos._error import DBOSStepNondeterminismError, DBOSWorkflowConflictIDError

    workflow_id = result["workflow_uuid"]
    owner_xid = current_owner_xid(workflow_id)
    more = {**sys_db._wf_values(workflow_id), **sys_db._child_values(result["child_workflow_id"])}
    if owner_xid is not None and more:
        sys_db._check_owner_txn(conn, workflow_id, owner_xid)
    values = {
        **more,
        "workflow_uuid": workflow_id,
        "function_id": result["function_id"],
        "function_name": result["function_name"],
        "started_at_epoch_ms": result["started_at_epoch_ms"],
        "completed_at_epoch_ms": completed_at,
        "output": result["output"],
        "error": result["error"],
        "child_workflow_id": result["child_workflow_id"],
        "serialization": result["serialization"],
        "application_name": sys_db.app_name,
    }
    owned = owner_xid is not None and not more
    if owned:
        values["owner_xid"] = owner_xid
    try:
        done = conn.execute(_insert(sys_db, owned), values)
    except sa.exc.DBAPIError as error:
        if sys_db._is_unique_constraint_violation(error):
            raise DBOSStepNondeterminismError(workflow_id, result["function_id"]) from None
        raise
    if owned and done.first() is None:
        raise DBOSWorkflowConflictIDError(workflow_id)
