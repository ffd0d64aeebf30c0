"""A DBOS step whose checkpoint commits in the step's own transaction.

``DBOS.run_step`` spends three transactions on a step that writes to the database: its
check for a recorded result, the step's own, and its checkpoint (the result's row in
``operation_outputs``). DBOS's tables live in the server's own database (SQLite or
PostgreSQL), so ``transactional`` writes that row in the step's transaction instead:
the step's changes and its checkpoint commit together or not at all. A crash before
the commit leaves neither (the attempt runs again after recovery, as with
``run_step``); after it, a replay finds the result and does not run the step again.

The step function takes ``checkpoint``, a callable it calls with its session and
result as the last thing before its transaction commits. A step that fails has
nothing committed: its error is recorded in a transaction of its own, as
``run_step`` records it, and replays raise it again.

This uses DBOS internals (the step context, ``SystemDatabase._record_operation_result_txn``,
``_apply_caller_schema``): dbos is pinned to its minor version, and the workflow tests
(kills included) prove it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class CheckpointFailed(Exception):
    """Writing the checkpoint failed (e.g. another execution owns the workflow now):
    carries DBOS's own error, raised as it is, with nothing recorded."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def transactional(name: str, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args, checkpoint=...)`` as the workflow's next step, named ``name``; outside
    a workflow, just the call (``checkpoint`` does nothing)."""
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
        return func(*args, checkpoint=lambda session, output: None)
    dbos = _get_dbos_instance()
    sys_db = dbos._sys_db
    step_ctx = snapshot_step_context()
    with EnterDBOSStepCtx({"name": name, "operationType": "step"}, step_ctx) as ctx:
        workflow_id, function_id = ctx.workflow_id, ctx.function_id
        recorded = sys_db.check_operation_execution(workflow_id, function_id, name)
        if recorded:  # done before: replay its result
            if recorded["error"] is not None:
                raise deserialize_exception(
                    recorded["error"], recorded["serialization"], dbos._serializer
                )
            return deserialize_value(
                recorded["output"], recorded["serialization"], dbos._serializer
            )
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

        def checkpoint(session, output: Any) -> None:
            try:
                result["output"], result["serialization"] = serialize_value(
                    output, None, dbos._serializer
                )
                sys_db._apply_caller_schema(session)
                with sys_db._own_key(workflow_id):
                    sys_db._record_operation_result_txn(
                        result, int(time.time() * 1000), session.connection()
                    )
            except Exception as exc:
                raise CheckpointFailed(exc) from exc

        try:
            return func(*args, checkpoint=checkpoint)
        except CheckpointFailed as failed:
            raise failed.error from None
        except Exception as error:
            result["output"] = None
            result["error"], result["serialization"] = serialize_exception(
                error, None, dbos._serializer
            )
            sys_db.record_operation_result(result)
            raise
