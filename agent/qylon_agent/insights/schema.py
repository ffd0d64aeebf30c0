"""The structured output asked of a model, validated with pydantic before anything is stored."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModelItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str | None = Field(
        description="Who does it: a name as said in the meeting, or null when nobody owns it."
    )
    task: str = Field(min_length=2, description="What to do, as a short imperative phrase.")
    due: date | None = Field(
        description="The due date as YYYY-MM-DD, resolved against the meeting date; null if none was said."
    )
    quote: str | None = Field(
        description="The exact words from the transcript that made this an action item."
    )
    line: int | None = Field(
        description="The transcript line number (L12 -> 12) where it was said."
    )


class ModelInsights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action_items: list[ModelItem]
    decisions: list[str] = Field(description="Decisions the meeting took, one sentence each.")
    summary: str = Field(
        description="Two or three sentences on what the meeting was about and its outcome."
    )


def _strict(node: Any) -> Any:
    """OpenAI's strict structured outputs: every property required, no extra ones, no defaults."""
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items() if k not in ("default", "title")}
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def response_format() -> dict:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "meeting_insights",
            "strict": True,
            "schema": _strict(ModelInsights.model_json_schema()),
        },
    }
