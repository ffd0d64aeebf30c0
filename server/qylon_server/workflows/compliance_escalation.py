"""Escalation of overdue compliance items, as a durable workflow on the engine.

Uploading a policy with an ``escalation:`` ladder installs a workflow definition
``compliance.<policy>`` (same version as the policy); assigning its items to a person starts
one run of it for that person (``services/compliance.assign``). The run works in phases:

- ``plan_N`` (action ``compliance.next_rung``): the time of the next rung due for an open
  item (``at``; ``done`` when none is left). A rung's time is absolute: the item's due
  date (00:00 UTC) + the rung's ``after``, so it does not move when the server restarts,
  when the run parks, or when it is computed again; an item whose deadline moved
  (``compliance.item_redated``) counts from its new date;
- ``wait_N``: ``sleep_until`` that time (it parks when long). It ends early on the
  ``clock`` signal: with no payload, the time is taken to have come (tests drive the
  ladder so); with ``{"replan": ...}`` (sent when an item is redated or withdrawn,
  ``follow``) nothing is taken to have passed and the next phase plans again;
- ``check_N`` (action ``compliance.escalate_due``): every rung due by ``at`` for an open
  item is recorded (``compliance.item_escalated``) and becomes one message to the person
  and one to their manager;
- ``person_N`` / ``manager_N``: ``email.send`` of those messages (Message-ID from run and
  step, so a message sent again after a crash has the same one).

The run's notion of now never goes back: the later of the clock and the last time it
waited until. Definitions installed before absolute ladders call ``compliance.plan`` and
``compliance.escalate`` (relative sleeps counted in the run's own days); those actions
stay for the runs they started.
"""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from qylon_cli.compliance_policy import Policy, days

from ..events import compliance as projection
from ..events import domain
from ..models import ComplianceItem, CompliancePolicy, FlowDefinition, FlowRun, User
from .actions import ActionContext, ActionError, action

BITS = (64, 32, 16, 8, 4, 2, 1)  # the waits of definitions installed before (``plan``)
MAX_PHASES = 24
SPARE_PHASES = 3  # for plans made again after a redate or a withdrawal (``follow``)
PREFIX = "compliance."
NEXT, ESCALATE = "compliance.next_rung", "compliance.escalate_due"
CLOSED = ("completed", "withdrawn")


def workflow_name(policy: Policy) -> str:
    return f"{PREFIX}{policy.name}"[:64]


def definition(policy: Policy) -> str:
    """The YAML of the escalation workflow of ``policy``: one phase per time a rung can
    fall due, and a few more for plans made again (``follow``)."""
    import json

    triggers = {days(i.due) + days(r.after) for i in policy.items for r in policy.escalation}
    phases = min(len(triggers) + SPARE_PHASES, MAX_PHASES)
    steps: list[dict[str, Any]] = []
    who = {"user_id": "{{ input.user_id }}", "policy": "{{ input.policy }}"}
    for n in range(1, phases + 1):
        since = {}
        if n > 1:
            since = {
                "previous": f"{{{{ steps.plan_{n - 1}.output }}}}",
                "woke": f"{{{{ steps.wait_{n - 1}.output }}}}",
            }
        plan = f"steps.plan_{n}.output"
        steps += [
            {"name": f"plan_{n}", "action": NEXT, "with": {**who, **since}},
            {"name": f"wait_{n}", "if": f"not {plan}.done", "sleep_until": f"{{{{ {plan}.at }}}}"},
            {
                "name": f"check_{n}",
                "if": f"not {plan}.done and not steps.wait_{n}.output.replan",
                "action": ESCALATE,
                "with": {**who, "at": f"{{{{ {plan}.at }}}}"},
            },
        ]
        for whom in ("person", "manager"):
            out = f"steps.check_{n}.output.{whom}"
            steps.append(
                {
                    "name": f"{whom}_{n}",
                    "if": f"steps.check_{n}.output and {out}",
                    "action": "email.send",
                    "with": {k: f"{{{{ {out}.{k} }}}}" for k in ("to", "subject", "text")},
                    "retry": {
                        "max_attempts": 5,
                        "initial_interval": "1m",
                        "retry_on": ["unavailable"],
                    },
                }
            )
    document = {
        "name": workflow_name(policy),
        "version": policy.version,
        "description": f"Escalation of overdue items of the compliance policy {policy.name}.",
        "input": {
            "user_id": {"type": "string", "required": True},
            "policy": {"type": "string", "required": True},
        },
        "subject": "{{ input.user_id }}",
        "steps": steps,
    }
    return json.dumps(document, indent=1)  # JSON is YAML: the one loader reads it


def install(session, principal, policy: Policy) -> str | None:
    """Upload the escalation workflow of ``policy`` (None when it has no ladder)."""
    if not policy.escalation:
        return None
    from . import service

    row, _ = service.upload(session, principal, text=definition(policy))
    return row.name


# ------------------------------------------------------------------------------ following


def current_run(session, row: ComplianceItem) -> FlowRun | None:
    """The newest escalation run of the item's person and policy."""
    policy = session.get(CompliancePolicy, row.policy_id)
    if policy is None or not policy.workflow:
        return None
    return session.scalar(
        select(FlowRun)
        .where(FlowRun.name == policy.workflow, FlowRun.subject == row.user_id)
        .order_by(FlowRun.created_at.desc(), FlowRun.id.desc())
        .limit(1)
    )


def follow(session, principal, client, row: ComplianceItem, reason: str) -> str | None:
    """Tell the person's escalation run that ``row`` changed (``reason``: redated or
    withdrawn), in ``session``'s transaction; the id of the run that follows the item now.
    A run waiting for a rung gets ``clock`` with ``{"replan": reason}``: it plans again
    from the items as they are, nothing taken to have passed. A run that has ended (its
    ladder was done) is replaced by a new one when a redated item is open again. Runs of
    definitions installed before absolute ladders are not woken: they find the change
    when their sleep ends."""
    from . import service

    run = current_run(session, row)
    if run is not None and run.status not in service.FINISHED:
        text = session.get(FlowDefinition, run.definition_id)
        if text is not None and NEXT in text.text:
            payload = {"replan": reason}
            service.signal(session, principal, client, run_id=run.id, name="clock", payload=payload)
        return run.id
    if row.status in CLOSED or run is None:
        return run.id if run is not None else None
    import uuid

    fresh, _ = service.start(
        session,
        principal,
        client,
        name=run.name,
        inputs={"user_id": row.user_id, "policy": row.policy_name},
        idempotency_key=f"compliance:{row.user_id}:{row.policy_name}:{uuid.uuid4()}",
    )
    return fresh.id


# ------------------------------------------------------------------------------ actions


def _items(ctx: ActionContext, args: dict) -> tuple[User, list[ComplianceItem], Policy]:
    user = ctx.session.get(User, str(args.get("user_id") or ""))
    if user is None:
        raise ActionError("not_found", "the person is gone")
    rows = list(
        ctx.session.scalars(
            select(ComplianceItem)
            .where(
                ComplianceItem.user_id == user.id,
                ComplianceItem.policy_name == str(args.get("policy") or ""),
            )
            .order_by(ComplianceItem.due_date, ComplianceItem.item_key)
        )
    )
    if not rows:
        raise ActionError("not_found", "the person has no items of this policy")
    from ..services.compliance import parse

    newest = max(rows, key=lambda r: r.policy_version)
    return user, rows, parse(ctx.session.get(CompliancePolicy, newest.policy_id))


def rung_time(due_date: str, after: str) -> datetime:
    """When a rung falls due: the due date's start (UTC) + the rung's ``after``."""
    due = datetime.combine(date.fromisoformat(due_date), datetime.min.time(), UTC)
    return due + timedelta(days=days(after))


def _open_rungs(rows: list[ComplianceItem], policy: Policy) -> list[tuple[ComplianceItem, int]]:
    """(item, rung) of every rung not yet recorded for an open item's current due date."""
    out = []
    for row in rows:
        if row.status in CLOSED:
            continue
        sent = {
            e.get("rung")
            for e in row.escalations or []
            if e.get("due_date") in (None, row.due_date)
        }
        out += [(row, i) for i in range(len(policy.escalation)) if i not in sent]
    return out


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _epoch(value: Any) -> float | None:
    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else None


@action(NEXT)
def next_rung(ctx: ActionContext, args: dict) -> dict:
    """{user_id, policy, previous?, woke?}: {done, now, at}: the run's now (the later of
    the clock and the time the previous phase waited until, unless a replan woke it) and
    the time to wait until: the next rung's, or now when that has passed."""
    _, rows, policy = _items(ctx, args)
    previous = args.get("previous") if isinstance(args.get("previous"), dict) else {}
    woke = args.get("woke") if isinstance(args.get("woke"), dict) else {}
    now = max(clock.time(), _epoch(previous.get("now")) or 0.0)
    if not previous.get("done") and not woke.get("replan"):
        now = max(now, _epoch(previous.get("at")) or 0.0)
    pending = [
        rung_time(row.due_date, policy.escalation[i].after).timestamp()
        for row, i in _open_rungs(rows, policy)
    ]
    if not pending:
        return {"done": True, "now": _iso(now), "at": None}
    return {"done": False, "now": _iso(now), "at": _iso(max(min(pending), now))}


def _message(ctx: ActionContext, user: User, items: list[ComplianceItem], manager: bool) -> dict:
    from .. import links
    from . import engine

    settings = engine.settings()
    checklist = links.url(settings, links.Link("checklist", ctx.org_id, user.id), "/p/checklist")
    name = user.display_name or user.email
    lines = [f"- {r.title} (due {r.due_date})" for r in items]
    if manager:
        subject = f"Overdue compliance items: {name}"
        text = f"{name} has overdue compliance items:\n\n" + "\n".join(lines)
        text += "\n\nPlease follow up with them.\n"
    else:
        subject = "Reminder: compliance items overdue"
        text = "These items are overdue:\n\n" + "\n".join(lines)
        text += f"\n\nYour checklist: {checklist}\n"
    return {"subject": subject, "text": text}


def _escalate(ctx: ActionContext, user: User, policy: Policy, due: list, extra) -> dict:
    """Record each (item, rung) of ``due`` (``extra(item, rung)``: more of the event's
    data); the messages for the person and their manager (None when none)."""
    manager = ctx.session.get(User, user.manager_id) if user.manager_id else None
    events, by_whom = [], {"person": [], "manager": []}
    for row, index in due:
        rung = policy.escalation[index]
        to = user.email if rung.notify == "person" else (manager.email if manager else None)
        data = {"item_id": row.id, "rung": index, "after": rung.after, "notify": rung.notify}
        data |= {"to": to, "run_id": ctx.run_id, **extra(row, index)}
        events.append((domain.ComplianceItemEscalated, data))
        if to and row not in by_whom[rung.notify]:
            by_whom[rung.notify].append(row)
    if events:
        projection.record(ctx.session, None, user.id, events)
    out: dict[str, Any] = {"escalated": len(events), "person": None, "manager": None}
    if by_whom["person"]:
        out["person"] = {"to": user.email, **_message(ctx, user, by_whom["person"], False)}
    if by_whom["manager"] and manager is not None:
        out["manager"] = {"to": manager.email, **_message(ctx, user, by_whom["manager"], True)}
    return out


@action(ESCALATE)
def escalate_due(ctx: ActionContext, args: dict) -> dict:
    """{user_id, policy, at}: record every rung due by ``at`` (its time from the item's
    due date as it is now) for an open item; the messages to send."""
    user, rows, policy = _items(ctx, args)
    at = _epoch(args.get("at"))
    if at is None:
        raise ActionError("invalid_input", "at: an ISO 8601 time is needed")

    def when(row, index):
        return rung_time(row.due_date, policy.escalation[index].after)

    due = [(r, i) for r, i in _open_rungs(rows, policy) if when(r, i).timestamp() <= at]

    def extra(row, index):
        return {"due_date": row.due_date, "time": when(row, index).isoformat()}

    return {"at": args["at"], **_escalate(ctx, user, policy, due, extra)}


# ------------------------------------------------------- the actions of earlier definitions


def _due(row: ComplianceItem) -> int:
    """The item's due day, counted from the person's start date."""
    return (date.fromisoformat(row.due_date) - date.fromisoformat(row.start_date)).days


def _pending(rows: list[ComplianceItem], policy: Policy) -> list[tuple[int, ComplianceItem, int]]:
    return [
        (_due(row) + days(policy.escalation[i].after), row, i)
        for row, i in _open_rungs(rows, policy)
    ]


@action("compliance.plan")
def plan(ctx: ActionContext, args: dict) -> dict:
    """{user_id, policy, day?}: the next day (counted from the start date) a rung falls
    due and the wait until it, as bits (definitions installed before absolute ladders)."""
    from ..services.compliance import today

    _, rows, policy = _items(ctx, args)
    if args.get("day") is None:
        now = min((today() - date.fromisoformat(r.start_date)).days for r in rows)
    else:
        now = int(args["day"])
    pending = _pending(rows, policy)
    if not pending:
        return {"done": True, "day": now, **{f"b{b}": False for b in BITS}}
    wait = min(max(0, min(day for day, _, _ in pending) - now), sum(BITS))
    return {"done": False, "day": now + wait, **{f"b{b}": bool(wait & b) for b in BITS}}


@action("compliance.escalate")
def escalate(ctx: ActionContext, args: dict) -> dict:
    """{user_id, policy, day}: as ``escalate_due``, by the run's day (earlier definitions)."""
    user, rows, policy = _items(ctx, args)
    day = int(args.get("day") or 0)
    due = [(row, i) for d, row, i in _pending(rows, policy) if d <= day]
    return {"day": day, **_escalate(ctx, user, policy, due, lambda r, i: {"day": day})}
