"""What a provider plugin implements: a CRM, a video platform or a calendar.

A plugin registers a factory (``register(kind="crm", name="hubspot",
factory="pkg.mod:HubSpot", auth="oauth")``); ``qylon_cli.plugins.provider(kind, name)``
makes one. The protocols and their models live here, in the host, so integrations
import only ``qylon_cli``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field


class Contact(BaseModel):
    id: str
    name: str
    email: str | None = None
    company: str | None = None


class Note(BaseModel):
    id: str | None = None
    contact_id: str | None = None
    body: str
    created_at: datetime | None = None


class Recording(BaseModel):
    id: str
    title: str | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    download_url: str | None = None


class Event(BaseModel):
    id: str
    title: str
    start: datetime
    end: datetime
    attendees: list[str] = Field(default_factory=list)
    meeting_url: str | None = None


@runtime_checkable
class CrmProvider(Protocol):
    def find_contacts(self, query: str) -> list[Contact]: ...

    def create_note(self, note: Note) -> Note: ...


@runtime_checkable
class VideoProvider(Protocol):
    def list_recordings(self, since: datetime | None = None) -> list[Recording]: ...


@runtime_checkable
class CalendarProvider(Protocol):
    def list_events(self, start: datetime, end: datetime) -> list[Event]: ...


PROTOCOLS = {"crm": CrmProvider, "video": VideoProvider, "calendar": CalendarProvider}
