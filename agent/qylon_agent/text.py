"""Two texts that say the same thing: stemmed content words, compared.

Two tasks are the same when they share most content words: Jaccard similarity of the
stemmed content words at least 0.5, or the smaller set at least two-thirds inside the
larger one. Used by the extractors (merging repeats) and by the store (a re-analysis
keeps an item a person corrected when it finds it again in other words).
"""

from __future__ import annotations

import re

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
