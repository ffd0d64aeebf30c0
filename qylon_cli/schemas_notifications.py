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


class NotificationPrefsUpdate(BaseModel):
    digest: Literal["off", "daily"] | None = None
    digest_hour: int | None = Field(None, ge=0, le=23)
