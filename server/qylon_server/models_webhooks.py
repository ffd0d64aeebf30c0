"""Webhooks (issue 22): an organisation's subscriptions, each delivery of an event to
one, and each attempt of a delivery (docs/webhooks.md). Re-exported by ``models``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, OrgScoped, new_id, now


class WebhookSubscription(OrgScoped, Base):
    """Where an organisation's events of some types are sent. ``secret`` is the signing
    secret sealed with a key derived from the server's secret (services/webhooks.py): shown
    once, at creation or rotation, never read back."""

    __tablename__ = "webhook_subscriptions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(Text)  # sealed (Fernet), never returned
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(36))  # the runs' actor: user
    created_key: Mapped[str] = mapped_column(String(36))  # and key
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class WebhookDelivery(OrgScoped, Base):
    """One event sent to one subscription: its id is the ``webhook-id`` header, the same
    on every attempt and redelivery; ``payload`` the body, fixed when the event came."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_subscription", "subscription_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # msg_...
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str | None] = mapped_column(String(36))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str | None] = mapped_column(String(64))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=now)
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(OrgScoped, Base):
    """One HTTP request of a delivery: when, the answer's status, how long, an error, the
    start of the answer's body."""

    __tablename__ = "webhook_attempts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=now)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(1000))
    response: Mapped[str | None] = mapped_column(String(500))  # the body's first characters
