"""What people did, read from where the server records it today, and the engagement
score made from it (docs/onboarding-risk.md).

Activities, each with its time:

- ``sign_in``: a day they used the API (``user.signed_in`` events: their first
  authenticated request of each UTC day, whichever key it used);
- ``meeting``: a meeting synced by them (``meeting.stored`` events, by their actor);
- ``item_closed``: an action item they marked done (``action_item.update`` audit events
  with status ``done``);
- ``compliance_done``: a compliance item of theirs completed (``compliance.item_completed``
  events, on their ``compliance:<user id>`` stream, whoever completed it).

Score: the recency-weighted count ``sum(weight(kind) * 0.5 ** (age_days / 7))`` over
the activities up to the evaluation time: an activity counts fully today, half a week
later, a quarter after two weeks. Weights: sign-in 1, meeting 3, closed item 2,
compliance item 2.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..events import store
from ..models import AuditEvent, User

WEIGHTS = {"sign_in": 1.0, "meeting": 3.0, "item_closed": 2.0, "compliance_done": 2.0}
# event type -> activity kind, for events whose stream is "<kind>:<user id>"
BY_STREAM = {"user.signed_in": "sign_in", "compliance.item_completed": "compliance_done"}
HALF_LIFE_DAYS = 7.0


@dataclass
class Person:
    id: str
    email: str
    started: datetime  # their start date (midnight UTC), else their account's creation
    activities: list[tuple[str, datetime]] = field(default_factory=list)

    def last(self, kind: str | None = None) -> datetime | None:
        times = [t for k, t in self.activities if kind is None or k == kind]
        return max(times) if times else None

    def since(self, kind: str, start: datetime) -> list[datetime]:
        return [t for k, t in self.activities if k == kind and t >= start]


def score(person: Person, at: datetime) -> float:
    """The recency-weighted count of ``person``'s activities up to ``at``."""
    total = 0.0
    for kind, when in person.activities:
        age_days = max(0.0, (at - when).total_seconds() / 86400)
        total += WEIGHTS[kind] * 0.5 ** (age_days / HALF_LIFE_DAYS)
    return round(total, 3)


def _start(user: User) -> datetime:
    if user.start_date:
        try:
            day = date.fromisoformat(user.start_date)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        except ValueError:
            pass
    return user.created_at


def people(session: Session, at: datetime) -> dict[str, Person]:
    """Every person not deactivated, with their activities up to ``at``."""
    found = {
        u.id: Person(u.id, u.email, _start(u))
        for u in session.scalars(select(User).where(User.status != "deactivated"))
    }

    def add(user_id: str | None, kind: str, when: datetime | None) -> None:
        if user_id in found and when is not None and when <= at:
            found[user_id].activities.append((kind, when))

    for recorded in store.walk(session, types=("meeting.stored", *BY_STREAM)):
        event = recorded.event
        if event.TYPE == "meeting.stored":
            add((event.actor or {}).get("user_id"), "meeting", event.timestamp)
        else:
            add(event.stream.partition(":")[2], BY_STREAM[event.TYPE], event.timestamp)
    for actor, when, detail in session.execute(
        select(AuditEvent.actor_user_id, AuditEvent.at, AuditEvent.detail).where(
            AuditEvent.action == "action_item.update"
        )
    ):
        if (detail or {}).get("status") == "done":
            add(actor, "item_closed", when)
    return found


def counts(person: Person) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for kind, _ in person.activities:
        out[kind] += 1
    return dict(out)
