"""Wire schemas of webhooks (issue 22, docs/webhooks.md), shared by the server's routes
and the CLI; the rest of the wire format is in ``schemas.py``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, description="https://, to a public address.")
    event_types: list[str] = Field(min_length=1, max_length=50, description="e.g. meeting.stored.")
    description: str | None = Field(None, max_length=200)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, min_length=8, max_length=2000)
    event_types: list[str] | None = Field(None, min_length=1, max_length=50)
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = None


class WebhookInfo(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None = None
    enabled: bool
    disabled_reason: str | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(
        None, description="The signing secret (whsec_...): only when made or rotated."
    )


class WebhookList(BaseModel):
    items: list[WebhookInfo]
    event_types: list[str] = Field(description="The event types a webhook may subscribe to.")


class WebhookAttemptInfo(BaseModel):
    at: datetime
    status_code: int | None = None
    duration_ms: int
    error: str | None = None
    response: str | None = Field(None, description="The answer's body, its first characters.")
    run_id: str | None = None


class WebhookDeliveryInfo(BaseModel):
    id: str = Field(description="The webhook-id header: the same on every attempt.")
    webhook_id: str
    event_type: str
    event_id: str | None = None
    status: str = Field(description="pending, retrying, delivered, failed or skipped.")
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    run_id: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    payload: dict
    log: list[WebhookAttemptInfo] = Field(default_factory=list)


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryInfo]
