"""Projections of the experiments' streams (``experiment:<id>``): ``experiments`` (name,
variants, status) and ``experiment_exposures``, the funnel (each exposed person's variant,
and when they converted; results count it per variant).

``services/experiments.py`` appends each event and applies it here in the same
transaction; ``rebuild`` replays an organisation's experiment events from position 0
into both tables (``qylon server replay experiments``), which gives the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from ..models import Experiment, ExperimentExposure
from . import domain, store

KIND = "experiment"
TYPES = tuple(t for t in domain.TYPES if t.startswith(f"{KIND}."))
PERSON = (domain.ExperimentExposure, domain.ExperimentConversion)


def stream(experiment_id: str) -> str:
    return domain.stream_of(KIND, experiment_id)


def apply_experiment(row, event: domain.Event, *, make: Callable[..., Any] = Experiment):
    """``row`` after one of its experiment's lifecycle events (created, started, stopped)."""
    if isinstance(event, domain.ExperimentCreated):
        return make(
            id=event.stream.split(":", 1)[1],
            org_id=event.org_id,
            status="draft",
            created_by=(event.actor or {}).get("user_id"),
            created_at=event.timestamp,
            updated_at=event.timestamp,
            started_at=None,
            stopped_at=None,
            # goal and templates came in migration 0015, goal_where in 0018
            **{"goal": None, "goal_where": None, "templates": None, **event.data},
        )
    if row is None:
        raise LookupError(f"{event.stream}: an event before the experiment was created")
    if isinstance(event, domain.ExperimentStarted):
        row.status, row.stopped_at = "running", None
        row.started_at = row.started_at or event.timestamp
    elif isinstance(event, domain.ExperimentStopped):
        row.status, row.stopped_at = "stopped", event.timestamp
    row.updated_at = event.timestamp
    return row


def apply_exposure(row, event: domain.Event, *, make: Callable[..., Any] = ExperimentExposure):
    """A person's funnel row after their exposure or conversion event."""
    if isinstance(event, domain.ExperimentExposure):
        return make(
            org_id=event.org_id,
            experiment_id=event.stream.split(":", 1)[1],
            user_id=event.data["user_id"],
            variant=event.data["variant"],
            exposed_at=event.timestamp,
            converted_at=None,
        )
    if row is None:
        raise LookupError(f"{event.stream}: a conversion of someone never exposed")
    row.converted_at = event.timestamp
    return row


def record(session: Session, principal, experiment_id: str, cls, data: dict) -> domain.Event:
    """Append one event to the experiment's stream (in the session's transaction)."""
    return store.append(session, principal, stream(experiment_id), cls, data)


# ------------------------------------------------------------------------------ rebuild

_EXPERIMENT = tuple(c.key for c in sa_inspect(Experiment).column_attrs)
_EXPOSURE = tuple(c.key for c in sa_inspect(ExperimentExposure).column_attrs)


def _row(**columns) -> SimpleNamespace:
    return SimpleNamespace(**columns)


def rebuild(session: Session) -> int:
    """Replay the organisation's experiment events into ``experiments`` and
    ``experiment_exposures`` (both emptied first, in this transaction); returns the rows."""
    experiments: dict[str, SimpleNamespace] = {}
    people: dict[tuple[str, str], SimpleNamespace] = {}
    for recorded in store.walk(session, types=TYPES):
        event = recorded.event
        ident = event.stream.split(":", 1)[1]
        if isinstance(event, PERSON):
            key = (ident, event.data["user_id"])
            people[key] = apply_exposure(people.get(key), event, make=_row)
        else:
            experiments[ident] = apply_experiment(experiments.get(ident), event, make=_row)
    session.execute(delete(ExperimentExposure))
    session.execute(delete(Experiment))
    rows = [{c: getattr(r, c) for c in _EXPERIMENT} for r in experiments.values()]
    if rows:
        session.execute(insert(Experiment), rows)
    funnel = [{c: getattr(r, c) for c in _EXPOSURE} for r in people.values()]
    for first in range(0, len(funnel), 1000):
        session.execute(insert(ExperimentExposure), funnel[first : first + 1000])
    session.flush()
    session.expire_all()
    return len(rows) + len(funnel)
