"""Merging repeats: a recap that restates an item, or two chunks of a long meeting that both saw it.

Two items are the same when their owners agree (or one has none) and their tasks are
``qylon_agent.text.similar`` (they share most stemmed content words). The first
mention keeps its quote and time; a missing owner or due date is filled from the
later one.
"""

from __future__ import annotations

from ..text import similar
from .result import Found


def _same_owner(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a.lower() == b.lower()


def merge_items(items: list[Found]) -> list[Found]:
    merged: list[Found] = []
    for item in items:
        for kept in merged:
            if _same_owner(kept.owner, item.owner) and similar(kept.task, item.task):
                kept.owner = kept.owner or item.owner
                kept.due = kept.due or item.due
                break
        else:
            merged.append(Found(item.task, item.owner, item.due, item.quote, item.start))
    return merged


def merge_texts(texts: list[str]) -> list[str]:
    """Decisions: drop ones that restate an earlier one."""
    kept: list[str] = []
    for text in texts:
        if not any(similar(text, k) for k in kept):
            kept.append(text)
    return kept
