"""The shared wire format: what crosses between agent, CLI and server.

Pydantic models, versioned by ``schema_version`` where stored as JSON. The
server's OpenAPI document is generated from these.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Word(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None = None


class Segment(BaseModel):
    start: float = Field(ge=0, description="Seconds from the start of the recording.")
    end: float = Field(ge=0)
    speaker: str | None = Field(None, description="Speaker label, e.g. SPEAKER_1, or a name.")
    text: str
    words: list[Word] = Field(default_factory=list, exclude=True)


class Speaker(BaseModel):
    id: str = Field(description="Label within the meeting, e.g. SPEAKER_1.")
    name: str | None = None
    talk_time_s: float = 0.0


class ActionItem(BaseModel):
    id: str
    owner: str | None = None
    task: str
    due: date | None = None
    status: Literal["open", "done"] = "open"
    quote: str | None = None
    start: float | None = None


class Meeting(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    title: str
    client: str | None = None
    source: str | None = Field(None, description="The audio file the meeting came from.")
    created_at: datetime
    duration_s: float = 0.0
    language: str | None = None
    model: str | None = None
    speakers: list[Speaker] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    summary: str | None = None
    decisions: list[str] = Field(default_factory=list)
