"""Experiments' goals: an experiment names an event type (``goal``); when an event of that
type about a person is appended, each experiment that exposed them and has that goal
records their conversion, once (``experiment.conversion``), in the same transaction. An
experiment's ``goal_where`` narrows its goal to events whose data holds those values
(``{"item_key": "security-training"}``).

No polling: ``install`` registers ``on_event`` with the event store (``store.listen``) for
every type that may be a goal; it runs at import, so every process that can append
(the API, workflow workers) converts. The person of an event: ``data.user_id``, else the
id of a person's stream (``user:``, ``onboarding:``, ``compliance:``, ``engagement:``).

The set of goals in use (``experiments.goal``) is kept per process until an experiment's
goal changes anywhere (events/listener_config.py), so the many events no experiment waits
for cost no query.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..events import domain, listener_config, store
from ..events.experiment_funnel import apply_exposure, stream
from ..models import Experiment, ExperimentExposure

PERSON_STREAMS = ("user", "onboarding", "compliance", "engagement")
NEVER = ("experiment.", "workflow_run.")  # their own, and runs (which name no person)
_GOALS = "experiment_goals.goals"  # listener_config: the goals in use


def goal_types() -> list[str]:
    """The event types an experiment may name as its goal."""
    return sorted(t for t in domain.TYPES if not t.startswith(NEVER))


def person_of(event: domain.Event) -> str | None:
    """The id of the person ``event`` is about, if any."""
    user_id = (event.data or {}).get("user_id")
    if isinstance(user_id, str) and user_id:
        return user_id
    kind, _, ident = event.stream.partition(":")
    return ident if kind in PERSON_STREAMS and ident else None


def forget(session: Session) -> None:
    """Read the goals in use again (an experiment was just created in this transaction)."""
    listener_config.forget(session)


def _in_use(session: Session) -> frozenset[str]:
    query = select(Experiment.goal).where(Experiment.goal.is_not(None)).distinct()
    return listener_config.cached(session, _GOALS, lambda: frozenset(session.scalars(query)))


def converted(
    session: Session, principal, seen: ExperimentExposure, *, cause: domain.Event | None = None
) -> bool:
    """Record ``seen``'s conversion unless it is recorded; whether this call recorded it."""
    if seen.converted_at is not None:
        return False
    data = {"user_id": seen.user_id, "variant": seen.variant}
    if cause is not None:
        data.update(goal=type(cause).TYPE, goal_event=cause.event_id)
    event = store.append(
        session,
        principal,
        stream(seen.experiment_id),
        domain.ExperimentConversion,
        data,
        correlation=cause.correlation_id if cause is not None else None,
        causation=cause.event_id if cause is not None else None,
    )
    apply_exposure(seen, event)
    session.flush()
    return True


def on_event(session: Session, event: domain.Event) -> None:
    """The listener: convert the person ``event`` is about in the experiments whose goal
    is its type and that exposed them (running or stopped: a stop ends exposures only)."""
    kind = type(event).TYPE
    if kind not in _in_use(session):
        return
    user_id = person_of(event)
    if user_id is None:
        return
    waiting = session.execute(
        select(ExperimentExposure, Experiment.goal_where)
        .join(Experiment, Experiment.id == ExperimentExposure.experiment_id)
        .where(
            ExperimentExposure.user_id == user_id,
            ExperimentExposure.converted_at.is_(None),
            Experiment.goal == kind,
        )
        .order_by(ExperimentExposure.experiment_id)
        .with_for_update(of=ExperimentExposure)
    ).all()
    data = event.data or {}
    for seen, where in waiting:
        if all(k in data and data[k] == v for k, v in (where or {}).items()):
            converted(session, event.actor, seen, cause=event)


def install() -> None:
    for kind in goal_types():
        store.listen(kind, on_event)


install()
