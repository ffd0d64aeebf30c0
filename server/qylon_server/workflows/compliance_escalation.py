"""Escalation of overdue compliance items, as a durable workflow on the engine.

Uploading a policy with an ``escalation:`` ladder installs a workflow definition
``compliance.<policy>`` (same version as the policy); assigning its items to a person starts
one run of it for that person (``services/compliance.assign``). The run works in phases:

- ``plan_N`` (action ``compliance.plan``): the next day, counted from the person's start
  date, on which a rung of the ladder falls due for an open item (``done`` when none is
  left), and the wait until then as bits (``b64`` ... ``b1``);
- ``wait_N_64`` ... ``wait_N_1``: sleeps of 64, 32, ... 1 days, each run only when its bit
  is set (definitions' sleeps are fixed durations; together they make any wait up to 127
  days, and a longer one takes another phase). Each ends early on the ``clock`` signal;
- ``check_N`` (action ``compliance.escalate``): on that day, every rung due for an open
  item is recorded (``compliance.item_escalated``) and becomes one message to the person
  and one to their manager;
- ``person_N`` / ``manager_N``: ``email.send`` of those messages (Message-ID from run and step).

Time is counted in the run's own days: the first plan reads today's date, later ones
go on from the day the previous phase reached, so a run recovered after a crash, or
one whose sleeps the ``clock`` signal ended early, decides as a clock-driven run would.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from qylon_cli.compliance_policy import Policy, days

from ..events import compliance as projection
from ..events import domain
from ..models import ComplianceItem, CompliancePolicy, User
from .actions import ActionContext, ActionError, action

BITS = (64, 32, 16, 8, 4, 2, 1)
MAX_PHASES = 24
PREFIX = "compliance."


def workflow_name(policy: Policy) -> str:
    return f"{PREFIX}{policy.name}"[:64]


def definition(policy: Policy) -> str:
    """The YAML of the escalation workflow of ``policy`` (one phase per day a rung can
    fall due, and one more for waits over 127 days)."""
    import json

    triggers = {days(i.due) + days(r.after) for i in policy.items for r in policy.escalation}
    phases = min(len(triggers) + 1, MAX_PHASES)
    steps: list[dict[str, Any]] = []
    who = {"user_id": "{{ input.user_id }}", "policy": "{{ input.policy }}"}
    for n in range(1, phases + 1):
        since = {} if n == 1 else {"day": f"{{{{ steps.plan_{n - 1}.output.day }}}}"}
        steps.append({"name": f"plan_{n}", "action": "compliance.plan", "with": {**who, **since}})
        for bit in BITS:
            steps.append(
                {
                    "name": f"wait_{n}_{bit}",
                    "if": f"steps.plan_{n}.output.b{bit}",
                    "sleep": f"{bit}d",
                }
            )
        steps.append(
            {
                "name": f"check_{n}",
                "if": f"not steps.plan_{n}.output.done",
                "action": "compliance.escalate",
                "with": {**who, "day": f"{{{{ steps.plan_{n}.output.day }}}}"},
            }
        )
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


def _due(row: ComplianceItem) -> int:
    """The item's due day, counted from the person's start date."""
    return (date.fromisoformat(row.due_date) - date.fromisoformat(row.start_date)).days


def _pending(rows: list[ComplianceItem], policy: Policy) -> list[tuple[int, ComplianceItem, int]]:
    """(day, item, rung) of every rung not yet recorded for an open item."""
    out = []
    for row in rows:
        if row.status == "completed":
            continue
        sent = {e.get("rung") for e in row.escalations or []}
        for index, rung in enumerate(policy.escalation):
            if index not in sent:
                out.append((_due(row) + days(rung.after), row, index))
    return out


@action("compliance.plan")
def plan(ctx: ActionContext, args: dict) -> dict:
    """{user_id, policy, day?}: the next day a rung falls due and the wait until it."""
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


@action("compliance.escalate")
def escalate(ctx: ActionContext, args: dict) -> dict:
    """{user_id, policy, day}: record every rung due by ``day`` for an open item; the
    messages for the person and for their manager (None when there is none to send)."""
    user, rows, policy = _items(ctx, args)
    day = int(args.get("day") or 0)
    manager = ctx.session.get(User, user.manager_id) if user.manager_id else None
    due = [(d, row, i) for d, row, i in _pending(rows, policy) if d <= day]
    events, by_whom = [], {"person": [], "manager": []}
    for _, row, index in due:
        rung = policy.escalation[index]
        to = user.email if rung.notify == "person" else (manager.email if manager else None)
        events.append(
            (
                domain.ComplianceItemEscalated,
                {
                    "item_id": row.id,
                    "rung": index,
                    "after": rung.after,
                    "notify": rung.notify,
                    "to": to,
                    "day": day,
                    "run_id": ctx.run_id,
                },
            )
        )
        if to and row not in by_whom[rung.notify]:
            by_whom[rung.notify].append(row)
    if events:
        projection.record(ctx.session, None, user.id, events)
    out: dict[str, Any] = {"day": day, "escalated": len(events), "person": None, "manager": None}
    if by_whom["person"]:
        out["person"] = {"to": user.email, **_message(ctx, user, by_whom["person"], False)}
    if by_whom["manager"] and manager is not None:
        out["manager"] = {"to": manager.email, **_message(ctx, user, by_whom["manager"], True)}
    return out
