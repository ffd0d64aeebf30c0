"""The projection of the ``engagement.nudge_started`` events (streams ``engagement:<user
id>``): ``engagement_nudges``, which the weekly caps count. ``services/engagement.py``
applies each event as it appends it; ``rebuild_nudges`` replays them
(``qylon server replay engagement_nudges``)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from ..models import EngagementNudge
from . import domain, store


def apply_nudge(event: domain.Event, *, make=EngagementNudge):
    data = event.data
    return make(
        id=data["nudge_id"],
        org_id=event.org_id,
        user_id=event.stream.split(":", 1)[1],
        rule=data["rule"],
        run_id=data["run_id"],
        at=datetime.fromisoformat(data["at"]),
        reasons=data["reasons"],
    )


def rebuild_nudges(session: Session) -> int:
    """Replay the organisation's nudge events into ``engagement_nudges``."""
    rows = [
        vars(apply_nudge(r.event, make=SimpleNamespace))
        for r in store.walk(session, types=(domain.NudgeStarted.TYPE,))
    ]
    session.execute(delete(EngagementNudge))
    for first in range(0, len(rows), 1000):
        session.execute(insert(EngagementNudge), rows[first : first + 1000])
    session.flush()
    session.expire_all()
    return len(rows)
