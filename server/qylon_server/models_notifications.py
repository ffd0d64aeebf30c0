"""Email notifications (issue 22): each person's notification settings, the
daily digest of their open and overdue action items and the event types that email them
(docs/notifications.md).
Re-exported by ``models``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, OrgScoped, now


class NotificationPrefs(OrgScoped, Base):
    """A person's email notification settings: ``digest`` is ``off`` or ``daily`` (at
    ``digest_hour`` in their time zone); ``digest_run_id`` the digest's current run."""

    __tablename__ = "notification_prefs"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    digest: Mapped[str] = mapped_column(String(10), default="off")
    digest_hour: Mapped[int] = mapped_column(Integer, default=8)
    digest_run_id: Mapped[str | None] = mapped_column(String(64))
    events: Mapped[list | None] = mapped_column(
        JSON(none_as_null=True)
    )  # per-event emails; None: org defaults
    updated_at: Mapped[datetime] = mapped_column(default=now)
