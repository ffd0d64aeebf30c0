"""The ``onboardings`` and ``mail_suppressions`` projections of the ``onboarding:USER``
streams: ``record`` appends an event and applies it in the same transaction; ``rebuild``
replays an organisation's onboarding events into both tables (``qylon server replay
onboardings``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import MailSuppression, Onboarding
from . import domain, store

KIND = "onboarding"


def stream(user_id: str) -> str:
    return domain.stream_of(KIND, user_id)


def _find(session: Session, data: dict, user_id: str) -> Onboarding | None:
    return session.scalar(
        select(Onboarding).where(
            Onboarding.user_id == user_id, Onboarding.sequence == data.get("sequence")
        )
    )


def _suppress(session: Session, email: str, reason: str, detail: str | None, at: datetime):
    row = session.get(MailSuppression, (session.info["org_id"], email))
    if row is None:
        session.add(
            MailSuppression(
                org_id=session.info["org_id"], email=email, reason=reason, detail=detail, at=at
            )
        )
    elif row.reason != "unsubscribed":  # an unsubscription is the stronger word
        row.reason, row.detail, row.at = reason, detail, at


def apply(session: Session, event: domain.Event) -> None:
    """Apply one onboarding event to the tables (live and in a rebuild)."""
    data, at = event.data, event.timestamp
    user_id = event.stream.split(":", 1)[1]
    if isinstance(event, domain.OnboardingUnsubscribed):
        _suppress(session, data["email"], "unsubscribed", None, at)
        return
    if isinstance(event, domain.OnboardingBounced):
        _suppress(session, data["email"], "bounced", data.get("detail"), at)
        return
    if isinstance(event, domain.OnboardingStarted):
        session.add(
            Onboarding(
                org_id=event.org_id,
                user_id=user_id,
                email=data["email"],
                sequence=data["sequence"],
                version=data["version"],
                run_id=data["run_id"],
                run_sequence=data.get("run_sequence"),
                experiment_id=data.get("experiment_id"),
                variant=data.get("variant"),
                status="running",
                emails_sent=0,
                started_at=at,
                updated_at=at,
            )
        )
        session.flush()
        return
    row = _find(session, data, user_id)
    if row is None:
        return
    row.updated_at = at
    if isinstance(event, domain.OnboardingEmailSent):
        row.emails_sent += 1
        row.last_step, row.last_email_at = data["step"], at
    elif isinstance(event, domain.OnboardingStopped) and row.status == "running":
        row.status, row.reason, row.stopped_at = "stopped", data.get("reason"), at
    elif isinstance(event, domain.OnboardingCompleted) and row.status == "running":
        row.status, row.stopped_at = "completed", at


def record(
    session: Session, principal, user_id: str, cls: type[domain.Event], data: dict
) -> domain.Event:
    """Append ``cls`` to the person's onboarding stream and apply it."""
    event = store.append(session, principal, stream(user_id), cls, data)
    apply(session, event)
    return event


def rebuild(session: Session) -> int:
    """Replay the organisation's onboarding events into ``onboardings`` and
    ``mail_suppressions`` (both emptied first); the number of events applied."""
    org_id = session.info["org_id"]
    session.execute(delete(Onboarding).where(Onboarding.org_id == org_id))
    session.execute(delete(MailSuppression).where(MailSuppression.org_id == org_id))
    session.flush()
    count = 0
    for recorded in store.walk(session, types=domain.ONBOARDING_TYPES):
        apply(session, recorded.event)
        count += 1
    session.flush()
    return count


def completed_items(session: Session, user_id: str, items: set[str]) -> set[str]:
    """Which of ``items`` (compliance item ids, e.g. ``security-awareness``) the person has
    completed: the ``compliance_items`` projection of their ``compliance.item_completed``
    events."""
    if not items:
        return set()
    from ..models import ComplianceItem

    return set(
        session.scalars(
            select(ComplianceItem.item_key).where(
                ComplianceItem.user_id == user_id,
                ComplianceItem.status == "completed",
                ComplianceItem.item_key.in_(sorted(items)),
            )
        )
    )
