"""Re-engagement (docs/onboarding-risk.md): rules uploaded per organisation, matched
against each person's activity at a given time; ``at_risk`` lists the matches, and
``evaluate`` starts each match's nudge workflow, within the weekly caps.

A nudge started is an ``engagement.nudge_started`` event in the person's stream
(``engagement:<user id>``), applied to ``engagement_nudges`` in the same transaction
(events/engagement_nudges.py, which also replays them).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qylon_cli.engagement_rules import Rule, load
from qylon_cli.workflow_defs import WorkflowInvalid, seconds

from ..errors import ApiError
from ..events import domain, store
from ..events.engagement_nudges import apply_nudge
from ..models import EngagementNudge, EngagementRule, new_id
from . import audit, versions
from .engagement_activity import Person, counts, people, score

WEEK = timedelta(days=7)
DEFAULT_CAP = 2  # nudges per person in any 7 days, all rules together


# ------------------------------------------------------------------------------ rules


def upload(session: Session, principal, *, text: str) -> tuple[EngagementRule, bool]:
    """Store a rule's text; (row, created). As workflow definitions: a name's version is
    stored once, the same text again changes nothing, other text is 409."""
    try:
        rule = load(text, "upload")
    except WorkflowInvalid as exc:
        raise ApiError(422, exc.message, code="rule_invalid", hint=exc.hint) from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    same = versions.stored(
        session, EngagementRule, name=rule.name, version=rule.version, digest=digest
    )
    if same is not None:
        return same, False
    row = EngagementRule(
        name=rule.name,
        version=rule.version,
        sha256=digest,
        text=text,
        created_by=principal.user.id,
    )
    session.add(row)
    session.flush()
    detail = {"name": row.name, "version": row.version, "sha256": digest}
    audit.record(
        session, principal, "engagement.rule.upload", target_type="engagement_rule",
        target_id=row.id, detail=detail,
    )  # fmt: skip
    return row, True


def in_force(session: Session) -> list[tuple[EngagementRule, Rule]]:
    """The newest version of each rule, enabled ones only, by name."""
    newest = (
        select(EngagementRule.name, func.max(EngagementRule.version).label("v"))
        .group_by(EngagementRule.name)
        .subquery()
    )
    rows = session.scalars(
        select(EngagementRule)
        .join(
            newest,
            (newest.c.name == EngagementRule.name) & (newest.c.v == EngagementRule.version),
        )
        .order_by(EngagementRule.name)
    )
    out = [(row, load(row.text, row.name)) for row in rows]
    return [(row, rule) for row, rule in out if rule.enabled]


# ------------------------------------------------------------------------------ matching


def _days(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 86400:.1f} days"


def facts(rule: Rule, person: Person, at: datetime, points: float) -> list[str] | None:
    """Why ``rule`` matches ``person`` at ``at`` (one fact per condition), or None."""
    when, out = rule.when, []
    if when.during_onboarding:
        if not (
            person.started
            <= at
            <= person.started + timedelta(seconds=seconds(when.during_onboarding))
        ):
            return None
        out.append(f"in onboarding since {person.started.date()} ({_days(at - person.started)})")
    if when.no_activity_for:
        last = person.last()
        quiet = at - (last or person.started)
        if quiet < timedelta(seconds=seconds(when.no_activity_for)):
            return None
        seen = f"last activity {last.isoformat(timespec='minutes')}" if last else "no activity yet"
        out.append(f"no activity for {_days(quiet)} ({seen})")
    if when.meetings_recorded_within:
        window = timedelta(seconds=seconds(when.meetings_recorded_within))
        recent = person.since("meeting", at - window)
        if not recent:
            return None
        out.append(f"{len(recent)} meeting(s) synced in the last {when.meetings_recorded_within}")
    if when.no_action_item_closed_for:
        window = timedelta(seconds=seconds(when.no_action_item_closed_for))
        if person.since("item_closed", at - window):
            return None
        out.append(f"no action item closed in the last {when.no_action_item_closed_for}")
    if when.score_below is not None:
        if points >= when.score_below:
            return None
        out.append(f"engagement score {points} below {when.score_below:g}")
    return out


def at_risk(session: Session, at: datetime, rules: list[Rule] | None = None) -> list[dict]:
    """Everyone some rule matches at ``at``: risk (the sum of the rules' ``risk``), score,
    and the reasons (rule and facts); the riskiest first, then the lowest score."""
    rules = [r for _, r in in_force(session)] if rules is None else rules
    out = []
    for person in people(session, at).values():
        points = score(person, at)
        reasons = []
        for rule in rules:
            found = facts(rule, person, at, points)
            if found is not None:
                reasons.append({"rule": rule.name, "risk": rule.risk, "facts": found})
        if reasons:
            out.append(
                {
                    "user_id": person.id,
                    "email": person.email,
                    "risk": sum(r["risk"] for r in reasons),
                    "score": points,
                    "activity": counts(person),
                    "last_activity": person.last(),
                    "reasons": reasons,
                }
            )
    out.sort(key=lambda p: (-p["risk"], p["score"], p["email"]))
    return out


# ------------------------------------------------------------------------------ nudges


def nudges_since(session: Session, user_id: str, start: datetime) -> list[EngagementNudge]:
    return list(
        session.scalars(
            select(EngagementNudge).where(
                EngagementNudge.user_id == user_id, EngagementNudge.at > start
            )
        )
    )


def evaluate(
    session: Session, principal, start, *, at: datetime, cap_per_week: int = DEFAULT_CAP
) -> dict:
    """Match the rules at ``at`` and start each match's nudge (a run of the rule's
    workflow, as ``principal``), unless the person had the rule's ``cap_per_week`` of its
    nudges, or ``cap_per_week`` nudges in all, in the 7 days up to ``at``.

    ``start(name, inputs, idempotency_key) -> (run, created)`` starts a run (the workflow
    layer's ``service.start``, which sits above this one)."""
    rules = {rule.name: rule for _, rule in in_force(session)}
    started, held = [], []
    for person in at_risk(session, at, list(rules.values())):
        recent = nudges_since(session, person["user_id"], at - WEEK)
        for reason in person["reasons"]:
            rule = rules[reason["rule"]]
            if rule.nudge is None:
                continue
            mine = [n for n in recent if n.rule == rule.name]
            entry = {"user_id": person["user_id"], "email": person["email"], "rule": rule.name}
            if len(mine) >= rule.nudge.cap_per_week or len(recent) >= cap_per_week:
                held.append({**entry, "why": "weekly cap reached"})
                continue
            inputs = {
                **rule.nudge.input,
                "email": person["email"],
                "rule": rule.name,
                "reasons": "; ".join(reason["facts"]),
            }
            key = f"nudge-{person['user_id']}-{rule.name}-{at.date()}"
            try:
                run, new = start(rule.nudge.workflow, inputs, key)
            except ApiError as exc:
                held.append({**entry, "why": exc.message})
                continue
            if not new:  # an evaluation for the same day started it already
                held.append({**entry, "why": f"started already: {run.id}"})
                continue
            nudge_id = new_id()
            event = store.append(
                session,
                principal,
                domain.stream_of("engagement", person["user_id"]),
                domain.NudgeStarted,
                {
                    "nudge_id": nudge_id,
                    "rule": rule.name,
                    "run_id": run.id,
                    "at": at.isoformat(),
                    "reasons": reason["facts"],
                },
            )
            row = apply_nudge(event)
            session.add(row)
            session.flush()
            recent.append(row)
            started.append({**entry, "run_id": run.id})
    return {"at": at, "started": started, "held": held}
