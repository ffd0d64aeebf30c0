"""Overdue action items (docs/webhooks.md): an ``action_item.overdue`` event once per item
and due date, when the day it was due has ended (00:00 UTC the day after) and the item is
still open.

An ``action_item.created`` or ``action_item.due_changed`` event with a due date (a stored
meeting's new item, or one given another date) starts one run of ``action_items.overdue``
(a ``store.listen`` listener; its idempotency key names the meeting, the item and the
date). The run sleeps until that time (a parked, durable wait
that the ``clock`` signal ends early) and then ``action_items.mark_overdue`` appends the
event, in the step's transaction with its checkpoint: exactly once. An item that was done,
deleted or given another date by then gets nothing from this run (another date has a
run of its own). The event's webhooks are delivered like any other's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from ..events import append, domain, store, stream_of
from ..models import ActionItem
from . import digest
from . import service as workflows
from .actions import ActionContext, ActionError, action

DEFINITION = "action_items.overdue"
VERSION = 1
DEFINITION_TEXT = f"""name: {DEFINITION}
version: {VERSION}
description: Tell when an action item is overdue (docs/webhooks.md); started by the server.
input:
  meeting_id: {{type: string, required: true}}
  item_id: {{type: string, required: true}}
  due: {{type: string, required: true}}
  at: {{type: string, required: true}}
subject: "{{{{ input.meeting_id }}}}/{{{{ input.item_id }}}}"
steps:
  - name: wait
    sleep_until: "{{{{ input.at }}}}"
  - name: mark
    action: action_items.mark_overdue
    with:
      meeting_id: "{{{{ input.meeting_id }}}}"
      item_id: "{{{{ input.item_id }}}}"
      due: "{{{{ input.due }}}}"
    retry: {{max_attempts: 5, initial_interval: 5s, retry_on: [unavailable]}}
"""


def overdue_at(due: str) -> datetime:
    """When an item due on ``due`` (YYYY-MM-DD) is overdue: the end of that day, UTC."""
    return datetime.combine(date.fromisoformat(due) + timedelta(days=1), time(), tzinfo=UTC)


def on_event(session: Session, event: domain.Event) -> None:
    """The listener: an item made or given another due date gets the run of that date."""
    due = (event.data or {}).get("due")
    principal = workflows.event_actor(session, event) if due else None
    if principal is None:
        return
    workflows.ship(session, principal, DEFINITION, VERSION, DEFINITION_TEXT)
    meeting_id, item_id = event.data["meeting_id"], event.data["item_id"]
    inputs = {"meeting_id": meeting_id, "item_id": item_id, "due": due}
    inputs["at"] = overdue_at(due).isoformat()
    workflows.start(
        session, principal, digest.client_for(session),
        name=DEFINITION, inputs=inputs, version=VERSION,
        idempotency_key=f"overdue.{meeting_id}.{item_id}.{due}",
    )  # fmt: skip


@action("action_items.mark_overdue")
def mark_overdue(ctx: ActionContext, args: dict) -> dict:
    """{meeting_id, item_id, due} → {overdue, reason?}"""
    try:
        key = (ctx.org_id, str(args["meeting_id"]), str(args["item_id"]))
        due = str(args["due"])
    except KeyError as exc:
        raise ActionError("invalid_input", f"{exc.args[0]} is required") from None
    item = ctx.session.get(ActionItem, key)
    if item is None:
        return {"overdue": False, "reason": "the item is gone"}
    if item.due != due:
        return {"overdue": False, "reason": f"the item is now due {item.due or 'on no date'}"}
    if item.status != "open":
        return {"overdue": False, "reason": f"the item is {item.status}"}
    data = {"meeting_id": item.meeting_id, "item_id": item.id, "owner": item.owner}
    data.update(task=item.task, due=item.due)
    append(
        ctx.session,
        ctx.principal,
        stream_of("meeting", item.meeting_id),
        domain.ActionItemOverdue,
        data,
    )
    return {"overdue": True}


def install() -> None:
    for kind in ("action_item.created", "action_item.due_changed"):
        store.listen(kind, on_event)


install()
