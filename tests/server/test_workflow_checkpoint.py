"""A step's DBOS checkpoint (workflows/checkpoint.py) in the step's own transaction: the
check before it is one statement, and the checkpoint's row is written only while the
execution still owns the workflow (DBOS's ownership check, folded into the insert)."""

from __future__ import annotations

import uuid

import dbos._context
import pytest
from dbos._error import DBOSWorkflowCancelledError, DBOSWorkflowConflictIDError
from qylon_server.db import Database
from qylon_server.workflows import checkpoint, engine


@pytest.fixture
def sys_db(backend):
    db = Database(backend.url)
    client = engine.client(db)
    yield client._sys_db, db
    client.destroy()
    db.dispose()


def _workflow(sys_db, db, owner: str) -> str:
    workflow_id = f"ckpt-{uuid.uuid4()}"
    client = engine.client(db)
    options = {"queue_name": engine.QUEUE, "workflow_name": engine.WORKFLOW}
    client.enqueue({**options, "workflow_id": workflow_id}, {"run_id": workflow_id})
    ws = sys_db.tables.workflow_status
    with db.engine.begin() as conn:
        sys_db._apply_caller_schema(conn)
        conn.execute(ws.update().where(ws.c.workflow_uuid == workflow_id).values(owner_xid=owner))
    return workflow_id


def _result(workflow_id: str, function_id: int) -> dict:
    return {
        "workflow_uuid": workflow_id,
        "function_id": function_id,
        "function_name": "one",
        "output": '{"sent": 1}',
        "error": None,
        "serialization": None,
        "started_at_epoch_ms": 1,
        "child_workflow_id": None,
    }


def _recorded(sys_db, db, workflow_id: str, function_id: int):
    with db.session(None) as session:
        sys_db._apply_caller_schema(session)
        return checkpoint._check(sys_db, session, workflow_id, function_id, "one")


def test_a_checkpoint_is_written_only_by_the_workflows_owner(sys_db, monkeypatch):
    sys_db, db = sys_db
    workflow_id = _workflow(sys_db, db, owner="mine")
    assert _recorded(sys_db, db, workflow_id, 1) is None

    monkeypatch.setattr(dbos._context, "current_owner_xid", lambda *_a, **_k: "theirs")
    with pytest.raises(DBOSWorkflowConflictIDError), db.engine.begin() as conn:
        sys_db._apply_caller_schema(conn)
        checkpoint._record(sys_db, conn, _result(workflow_id, 1), 2)
    assert _recorded(sys_db, db, workflow_id, 1) is None  # nothing written

    monkeypatch.setattr(dbos._context, "current_owner_xid", lambda *_a, **_k: "mine")
    with db.engine.begin() as conn:
        sys_db._apply_caller_schema(conn)
        checkpoint._record(sys_db, conn, _result(workflow_id, 1), 2)
    recorded = _recorded(sys_db, db, workflow_id, 1)
    assert recorded["output"] == '{"sent": 1}' and recorded["error"] is None
    assert _recorded(sys_db, db, workflow_id, 2) is None  # another step: nothing yet

    ws = sys_db.tables.workflow_status
    with db.engine.begin() as conn:
        sys_db._apply_caller_schema(conn)
        conn.execute(
            ws.update().where(ws.c.workflow_uuid == workflow_id).values(status="CANCELLED")
        )
    with pytest.raises(DBOSWorkflowCancelledError):
        _recorded(sys_db, db, workflow_id, 2)
