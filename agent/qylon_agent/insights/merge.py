"""Merging repeats: a recap that restates an item, or two chunks of a long meeting that both saw it.

Two items are the same when their owners agree (or one has none) and their tasks
share most content words: Jaccard similarity of the stemmed content words at least
0.5, or the smaller set at least two-thirds inside the larger one. The first
mention keeps its quote and time; a missing owner or due date is filled from the
later one.
"""

from __future__ import annotations

import re

from .result import Found

STOPWORDS = {
    "a",
    "an",
    "the",
    "to",
    "of",
    "for",
    "and",
    "or",
    "with",
    "on",
    "in",
    "at",
    "by",
    "from",
    "into",
    "onto",
    "over",
    "about",
    "as",
    "is",
    "are",
    "be",
    "been",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "them",
    "they",
    "their",
    "our",
    "your",
    "my",
    "his",
    "her",
    "we",
    "i",
    "you",
    "he",
    "she",
    "me",
    "us",
    "up",
    "out",
    "off",
    "all",
    "any",
    "some",
    "so",
    "then",
    "just",
    "also",
    "please",
    "again",
    "more",
    "new",
    "next",
    "same",
    "other",
}


def stem(word: str) -> str:
    word = word.lower().strip("'")
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word.rstrip("e")


def content_words(text: str) -> set[str]:
    return {stem(w) for w in re.findall(r"[A-Za-z0-9']+", text) if w.lower() not in STOPWORDS}


def similar(a: str, b: str) -> bool:
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return False
    inter = len(wa & wb)
    if inter / len(wa | wb) >= 0.5:
        return True
    small = min(len(wa), len(wb))
    return small >= 2 and inter / small >= 2 / 3


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
