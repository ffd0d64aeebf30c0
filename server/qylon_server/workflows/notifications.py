"""A person's email notification settings (docs/notifications.md): the daily digest, off
or daily at a local hour. Turning it on, or changing its hour, starts a fresh digest run
(workflows/digest.py) and makes it the current one; the run it replaces, and every run
after the digest is switched off, sends nothing and ends."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..errors import ApiError
from ..models import FlowRun, MailSettings, NotificationPrefs, User, now
from ..services import audit, mail_settings
from . import digest, event_mail
from . import service as workflows
from .onboarding import time_zone


def get(session: Session, user: User) -> NotificationPrefs:
    """The person's settings (the defaults, unsaved, when they have none)."""
    row = session.get(NotificationPrefs, (session.info["org_id"], user.id))
    return row or NotificationPrefs(user_id=user.id, digest="off", digest_hour=8)


def shown(session: Session, user: User, row: NotificationPrefs) -> dict:
    return {
        "digest": row.digest,
        "digest_hour": row.digest_hour,
        "time_zone": time_zone(user, mail_settings.get(session)),
        "digest_run_id": row.digest_run_id,
        "events": event_mail.wanted(session, user.id),
        "events_from": "organisation" if row.events is None else "own",
    }


def _events(given: list[str]) -> list[str]:
    unknown = sorted(set(given) - set(event_mail.TYPES))
    if unknown:
        raise ApiError(
            422,
            f"Unknown event type(s): {', '.join(unknown)}.",
            code="invalid_input",
            hint=f"Types: {', '.join(event_mail.TYPES)}.",
        )
    return sorted(set(given))


def set_defaults(session: Session, principal, events: list[str]) -> list[str]:
    """The organisation's per-event defaults (an admin's); audited (``notifications.defaults``)."""
    row = mail_settings.get(session)
    if row is None:
        row = MailSettings(org_id=session.info["org_id"])
        session.add(row)
    row.notify_events, row.updated_by, row.updated_at = _events(events), principal.user.id, now()
    event_mail.forget(session)
    session.flush()
    audit.record(
        session,
        principal,
        "notifications.defaults",
        target_type="organisation",
        target_id=session.info["org_id"],
        detail={"events": row.notify_events},
    )
    return row.notify_events


def _waiting(session: Session, run_id: str | None) -> bool:
    """Whether ``run_id`` is a digest run still to send (not ended: failed, cancelled...)."""
    run = session.get(FlowRun, run_id) if run_id else None
    return run is not None and run.status not in workflows.FINISHED


def update(session: Session, principal, changes: dict) -> NotificationPrefs:
    """Set the caller's own settings; audited (``notifications.update``)."""
    user = principal.user
    row = session.get(NotificationPrefs, (session.info["org_id"], user.id))
    if row is None:
        row = NotificationPrefs(user_id=user.id, digest="off", digest_hour=8)
        session.add(row)
    before = (row.digest, row.digest_hour)
    if changes.get("digest") is not None:
        row.digest = changes["digest"]
    if changes.get("digest_hour") is not None:
        row.digest_hour = changes["digest_hour"]
    if changes.get("events") is not None:
        row.events = _events(changes["events"])
    if changes.get("events_default"):
        row.events = None
    event_mail.forget(session)
    row.updated_at = now()
    session.flush()
    if row.digest == "off":
        row.digest_run_id = None
    elif (row.digest, row.digest_hour) != before or not _waiting(session, row.digest_run_id):
        row.digest_run_id = digest.start(session, principal, user, digest.new_key(user))
    session.flush()
    audit.record(
        session,
        principal,
        "notifications.update",
        target_type="user",
        target_id=user.id,
        detail={"digest": row.digest, "digest_hour": row.digest_hour, "events": row.events},
    )
    return row
