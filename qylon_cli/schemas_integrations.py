"""Wire schemas of an organisation's integration connections (issue 21,
docs/integrations.md), shared by the server's routes and the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ConnectionPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credentials: dict[str, Any] = Field(
        description="The integration's credentials document, as `qylon integrations share` "
        "sends it (an `access_token`, and for OAuth its refresh token and client secret). "
        "Kept sealed; never returned."
    )


class ConnectionInfo(BaseModel):
    name: str
    kind: str | None = Field(None, description="How it signs in: private_app, oauth, token...")
    created_by: str
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None = Field(
        None, description="When a workflow step last refreshed its tokens."
    )


class ConnectionList(BaseModel):
    items: list[ConnectionInfo]
    installed: list[str] = Field(description="The integrations this server's plugins offer.")
