"""/v1/me/notifications: the caller's own email notification settings (the daily digest
of their action items, docs/notifications.md). Each person reads and sets only theirs."""

from __future__ import annotations

from fastapi import APIRouter

from qylon_cli.schemas_notifications import NotificationPrefsInfo, NotificationPrefsUpdate

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..workflows import notifications

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
    """Set your email notification settings: ``digest`` (off or daily) and its local hour."""
    row = notifications.update(ctx.session, ctx.principal, body.model_dump(exclude_none=True))
    return NotificationPrefsInfo(**notifications.shown(ctx.session, ctx.principal.user, row))
