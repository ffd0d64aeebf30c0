"""/v1/me/notifications: the caller's own email notification settings (the daily digest
of their action items, docs/notifications.md). Each person reads and sets only theirs."""

from __future__ import annotations

from fastapi import APIRouter

from qylon_cli.schemas_notifications import (
    NotificationDefaults,
    NotificationPrefsInfo,
    NotificationPrefsUpdate,
)

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..workflows import event_mail, notifications

router = APIRouter(tags=["notifications"], responses=ERROR_RESPONSES)


@router.get("/v1/me/notifications", response_model=NotificationPrefsInfo)
def read_notifications(ctx: Allowed("notifications:read")) -> NotificationPrefsInfo:
    """Your email notification settings."""
    user = ctx.principal.user
    row = notifications.get(ctx.session, user)
    return NotificationPrefsInfo(**notifications.shown(ctx.session, user, row))


@router.put("/v1/me/notifications", response_model=NotificationPrefsInfo)
def set_notifications(
    body: NotificationPrefsUpdate, ctx: Allowed("notifications:own")
) -> NotificationPrefsInfo:
    """Set your email notification settings: the digest and its hour, the event types."""
    row = notifications.update(ctx.session, ctx.principal, body.model_dump(exclude_none=True))
    return NotificationPrefsInfo(**notifications.shown(ctx.session, ctx.principal.user, row))


@router.get("/v1/notifications/defaults", response_model=NotificationDefaults)
def read_defaults(ctx: Allowed("notifications:admin")) -> NotificationDefaults:
    """The organisation's per-event email defaults (for people who have chosen nothing)."""
    return NotificationDefaults(events=event_mail.defaults(ctx.session))


@router.put("/v1/notifications/defaults", response_model=NotificationDefaults)
def set_defaults(
    body: NotificationDefaults, ctx: Allowed("notifications:admin")
) -> NotificationDefaults:
    """Set the organisation's per-event email defaults; audited (``notifications.defaults``)."""
    events = notifications.set_defaults(ctx.session, ctx.principal, body.events)
    return NotificationDefaults(events=events)
