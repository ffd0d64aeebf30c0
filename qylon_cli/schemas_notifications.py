"""The /v1/me/notifications API's bodies (docs/notifications.md), shared by the server
and the CLI."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class NotificationPrefsInfo(BaseModel):
    digest: Literal["off", "daily"] = "off"
    digest_hour: int = Field(8, ge=0, le=23, description="The local hour the digest is sent at.")
    time_zone: str = Field("UTC", description="The person's time zone the hour is read in.")
    digest_run_id: str | None = Field(None, description="The run waiting to send the next one.")
    events: list[str] = Field(
        default_factory=list, description="The event types that email you when about you."
    )
    events_from: Literal["own", "organisation"] = Field(
        "organisation", description="own: your choice; organisation: the admin's defaults."
    )


class NotificationPrefsUpdate(BaseModel):
    digest: Literal["off", "daily"] | None = None
    digest_hour: int | None = Field(None, ge=0, le=23)
    events: list[str] | None = Field(None, description="Event types that email you ([]: none).")
    events_default: bool | None = Field(
        None, description="true: forget your choice and follow the organisation's defaults."
    )


class NotificationDefaults(BaseModel):
    """The organisation's per-event email defaults, for people who have chosen nothing."""

    events: list[str] = Field(default_factory=list)
