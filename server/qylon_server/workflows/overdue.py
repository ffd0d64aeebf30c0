"""Overdue action items and compliance items (docs/webhooks.md): an ``action_item.overdue``
or ``compliance.item_overdue`` event once per item and due date, when the day it was due
has ended (00:00 UTC the day after) and the item is still open.

A listener (``store.listen``) starts one run of ``overdue`` for each date to watch:

- ``action_item.created`` and ``action_item.due_changed`` with a due date: the item
  (``kind`` action_item, ``ref`` "MEETING_ID/ITEM_ID");
- ``compliance.item_assigned``: a person's items of one policy due that day, together
  (``kind`` compliance_items, ``ref`` "USER_ID/POLICY"): assigning a policy to 500 people
  starts one run per person and distinct due date, not one per item;
- ``compliance.item_redated``: the item (``kind`` compliance_item, ``ref`` its id).

Its idempotency key names kind, ref and date, so the same date is watched once. The run
sleeps until that time (a parked, durable wait that the ``clock`` signal ends early), then
``overdue.mark`` appends the events, in the step's transaction with its checkpoint:
exactly once. An item done, withdrawn, deleted or given another date by then gets nothing
from this run (another date has a run of its own).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..events import append, domain, store, stream_of
from ..events import compliance as compliance_projection
from ..models import ActionItem, ComplianceItem
from . import digest
from . import service as workflows
from .actions import ActionContext, ActionError, action

DEFINITION = "overdue"
VERSION = 1
DEFINITION_TEXT = f"""name: {DEFINITION}
version: {VERSION}
description: Tell when an action item or a compliance item is overdue (docs/webhooks.md); started by the server.
input:
  kind: {{type: string, required: true}}
  ref: {{type: string, required: true}}
  due: {{type: string, required: true}}
  at: {{type: string, required: true}}
subject: "{{{{ input.kind }}}}:{{{{ input.ref }}}}"
steps:
  - name: wait
    sleep_until: "{{{{ input.at }}}}"
  - name: mark
    action: overdue.mark
    with: {{kind: "{{{{ input.kind }}}}", ref: "{{{{ input.ref }}}}", due: "{{{{ input.due }}}}"}}
    retry: {{max_attempts: 5, initial_interval: 5s, retry_on: [unavailable]}}
"""
CLOSED = ("completed", "withdrawn")


def overdue_at(due: str) -> datetime:
    """When an item due on ``due`` (YYYY-MM-DD) is overdue: the end of that day, UTC."""
    return datetime.combine(date.fromisoformat(due) + timedelta(days=1), time(), tzinfo=UTC)


def _watch(event: domain.Event) -> tuple[str, str, str | None]:
    data = event.data or {}
    kind = type(event).TYPE
    if kind.startswith("action_item."):
        return "action_item", f"{data['meeting_id']}/{data['item_id']}", data.get("due")
    if kind == "compliance.item_assigned":
        return "compliance_items", f"{data['user_id']}/{data['policy_name']}", data["due_date"]
    return "compliance_item", data["item_id"], data.get("due_date")


def on_event(session: Session, event: domain.Event) -> None:
    """The listener: the run that watches the date an event gives an item."""
    kind, ref, due = _watch(event)
    principal = workflows.event_actor(session, event) if due else None
    if principal is None:
        return
    workflows.ship(session, principal, DEFINITION, VERSION, DEFINITION_TEXT)
    inputs = {"kind": kind, "ref": ref, "due": due, "at": overdue_at(due).isoformat()}
    workflows.start(
        session, principal, digest.client_for(session),
        name=DEFINITION, inputs=inputs, version=VERSION,
        idempotency_key=f"overdue.{kind}.{ref}.{due}",
    )  # fmt: skip


def _action_item(ctx: ActionContext, ref: str, due: str) -> dict:
    meeting_id, _, item_id = ref.partition("/")
    item = ctx.session.get(ActionItem, (ctx.org_id, meeting_id, item_id))
    if item is None:
        return {"overdue": 0, "reason": "the item is gone"}
    if item.due != due:
        return {"overdue": 0, "reason": f"the item is now due {item.due or 'on no date'}"}
    if item.status != "open":
        return {"overdue": 0, "reason": f"the item is {item.status}"}
    data = {"meeting_id": meeting_id, "item_id": item_id, "owner": item.owner}
    data.update(task=item.task, due=due)
    stream = stream_of("meeting", meeting_id)
    append(ctx.session, ctx.principal, stream, domain.ActionItemOverdue, data)
    return {"overdue": 1}


def _compliance_items(ctx: ActionContext, kind: str, ref: str, due: str) -> dict:
    query = select(ComplianceItem).where(ComplianceItem.due_date == due)
    if kind == "compliance_item":
        query = query.where(ComplianceItem.id == ref)
    else:
        user_id, _, policy = ref.partition("/")
        query = query.where(ComplianceItem.user_id == user_id)
        query = query.where(ComplianceItem.policy_name == policy)
    rows = [r for r in ctx.session.scalars(query) if r.status not in CLOSED]
    for row in rows:
        data = {"item_id": row.id, "user_id": row.user_id, "policy_name": row.policy_name}
        data.update(item_key=row.item_key, title=row.title, due_date=due)
        compliance_projection.record(
            ctx.session, ctx.principal, row.user_id, [(domain.ComplianceItemOverdue, data)]
        )
    return {"overdue": len(rows)}


@action("overdue.mark")
def mark(ctx: ActionContext, args: dict) -> dict:
    """{kind, ref, due} → {overdue (how many), reason?}"""
    kind, ref, due = (str(args.get(k) or "") for k in ("kind", "ref", "due"))
    if not ref or not due:
        raise ActionError("invalid_input", "ref and due are required")
    if kind == "action_item":
        return _action_item(ctx, ref, due)
    if kind in ("compliance_item", "compliance_items"):
        return _compliance_items(ctx, kind, ref, due)
    raise ActionError("invalid_input", f"kind: {kind!r} is not one this action knows")


def install() -> None:
    for kind in (
        "action_item.created",
        "action_item.due_changed",
        "compliance.item_assigned",
        "compliance.item_redated",
    ):
        store.listen(kind, on_event)


install()
