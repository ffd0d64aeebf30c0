"""The offline summary: two or three sentences of the meeting's own words that say what it was about.

Real speech rambles, so not every sentence can stand in a summary: candidates are
statements of 6 to 35 words (after fillers are cleaned) that are not questions,
greetings, hedges ("I think", "I don't know", "maybe"), or talk about the meeting
itself. Each is scored by how many of the meeting's frequent content words it carries
(normalised by its length), favouring purpose, decisions and commitments. A long
meeting takes its best sentence from each third, so the summary covers the meeting
rather than its first minutes; leading discourse markers ("Okay, so") are dropped.
"""

from __future__ import annotations

import re
from collections import Counter

from ..text import content_words, similar
from .speech import LEADING_FILLER

HEDGED = re.compile(
    r"^(?:i think|i guess|i suppose|i mean|i don't know|i dunno|i'm not sure|maybe|perhaps|probably|well|yeah|yes|no|"
    r"oh|hmm|so yeah|i was|i've|i have|i had|i just|i'll just|let me|sorry)\b",
    re.IGNORECASE,
)
TALK = re.compile(
    r"\b(?:next slide|this slide|can you see|can you hear|my screen|the whiteboard|the presentation|i'll go first|"
    r"go ahead|over to you|any questions|thank you|thanks|bye|good morning|hello|minutes)\b",
    re.IGNORECASE,
)
UNSURE = re.compile(
    r"\b(?:i'm not sure|i don't know|i guess|i dunno|or something|whatever|kind of|sort of)\b",
    re.IGNORECASE,
)
RESTART = re.compile(
    r"\b(?i:yeah)\b|\b[a-z]+ (?:You|We|It|That|The|But|And|So|Or|If)\b"
)  # chatter, a sentence started again
PURPOSE = re.compile(
    r"\b(agenda|goal|purpose|decided|agreed|decision|we(?:'ll| will) go with|the plan|aim|target)\b",
    re.IGNORECASE,
)


def _candidate(text: str) -> bool:
    words = text.split()
    return (
        8 <= len(words) <= 35
        and not text.rstrip().endswith("?")
        and not HEDGED.match(LEADING_FILLER.sub("", text))
        and not TALK.search(text)
        and not UNSURE.search(text)
        and not RESTART.search(text)
    )


def summarize(
    texts: list[str], *, decisions: list[str] = (), quoted: set[str] = frozenset(), limit: int = 3
) -> str | None:
    """``texts``: the meeting's sentences in order (speech already cleaned)."""
    if not any(t.strip() for t in texts):
        return None
    freq = Counter(w for t in texts for w in content_words(t) if len(w) > 2)
    pool = [(i, t) for i, t in enumerate(texts) if _candidate(t)]
    if not pool:
        pool = sorted(
            ((i, t) for i, t in enumerate(texts) if t.strip()), key=lambda it: -len(it[1])
        )[:limit]

    def score(text: str) -> float:
        words = [w for w in content_words(text) if len(w) > 2]
        base = sum(freq[w] for w in words) / (len(text.split()) ** 0.5 or 1)
        if PURPOSE.search(text) or any(similar(text, d) for d in decisions):
            base *= 1.5
        if text in quoted:
            base *= 1.2
        return base

    ranked = sorted(pool, key=lambda it: -score(it[1]))
    chosen: list[tuple[int, str]] = []
    if len(texts) >= 60 and limit == 3:  # a long meeting: one from each third, where there is one
        for part in range(3):
            lo, hi = len(texts) * part // 3, len(texts) * (part + 1) // 3
            best = next(((i, t) for i, t in ranked if lo <= i < hi), None)
            if best:
                chosen.append(best)
    for it in ranked:
        if len(chosen) >= limit:
            break
        if it not in chosen and not any(similar(it[1], c[1]) for c in chosen):
            chosen.append(it)
    out = []
    for _, text in sorted(chosen):
        text = LEADING_FILLER.sub("", text.strip())
        out.append(text[:1].upper() + text[1:])
    return " ".join(out) or None


TOPIC_STOP = {
    "other",
    "little",
    "same",
    "whole",
    "big",
    "small",
    "new",
    "old",
    "first",
    "last",
    "different",
    "good",
    "great",
    "nice",
    "main",
    "real",
    "right",
    "next",
    "certain",
    "own",
    "few",
    "many",
    "much",
    "more",
    "most",
    "such",
    "sure",
    "general",
    "basic",
    "simple",
    "overall",
    "time",
    "way",
    "thing",
    "things",
    "bit",
    "lot",
    "kind",
    "sort",
    "idea",
    "ideas",
    "point",
    "question",
    "moment",
    "people",
    "one",
    "ones",
    "something",
    "everything",
    "anything",
    "part",
    "end",
    "start",
    "beginning",
    "minute",
    "minutes",
    "meeting",
    "today",
    "week",
    "day",
    "number",
    "yeah",
    "okay",
}


def topics(texts: list[str], *, limit: int = 4) -> list[str]:
    """The meeting's most talked-about things: noun phrases after 'the/a/our …', most frequent first."""
    from .speech import FUNCTION_WORDS, NOUN_PHRASE

    counts: Counter = Counter()
    shown: dict[str, str] = {}
    for text in texts:
        for m in NOUN_PHRASE.finditer(text):
            words = [w for w in m.group(1).lower().split() if w not in TOPIC_STOP]
            if (
                not words
                or len(words) > 3
                or any(len(w) < 3 or w in FUNCTION_WORDS or w.endswith("ly") for w in words)
            ):
                continue
            key = " ".join(content_words(" ".join(words)) and words)
            counts[key] += 1
            shown.setdefault(key, " ".join(words))
    picked: list[str] = []
    for key, n in counts.most_common():
        if n < 2 or len(picked) >= limit:
            break
        if not any(key in p or p in key for p in picked):
            picked.append(key)
    return [shown[k] for k in picked]


def _join(things: list[str]) -> str:
    return things[0] if len(things) == 1 else ", ".join(things[:-1]) + " and " + things[-1]


def describe(
    texts: list[str], *, decisions: list[str] = (), items=(), quoted: set[str] = frozenset()
) -> str | None:
    """A long meeting: what it was about (its most talked-about things), what it decided, its first next steps,
    and its best sentence if there is room; a short one: its best sentences."""
    if len(texts) < 60:
        return summarize(texts, decisions=decisions, quoted=quoted)
    about = topics(texts)
    parts = [f"The meeting was about {_join(about)}."] if about else []
    if decisions:
        parts.append(f"Decided: {decisions[0].rstrip('.')}.")
    steps = [
        f"{i.owner}: {i.task[:1].lower() + i.task[1:]}" if i.owner else i.task
        for i in list(items)[:2]
    ]
    if steps:
        parts.append(f"Next steps: {'; '.join(steps)}.")
    best = (
        summarize(texts, decisions=decisions, quoted=quoted, limit=3 - len(parts))
        if len(parts) < 3
        else None
    )
    return " ".join(parts + ([best] if best else [])) or None
