"""What an extractor finds in a meeting, before it becomes stored action items."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date


@dataclass
class Found:
    """One action item: who does what by when, and where in the meeting it was said."""

    task: str
    owner: str | None = None
    due: date | None = None
    quote: str | None = None
    start: float | None = None


@dataclass
class Insights:
    items: list[Found] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    summary: str | None = None
    extractor: str = "offline"
    warnings: list[str] = field(default_factory=list)


def item_id(meeting_id: str, found: Found) -> str:
    """A stable id: analysing the same meeting again gives the same item the same id."""
    key = f"{meeting_id}\x00{(found.owner or '').lower()}\x00{found.task.lower()}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]
