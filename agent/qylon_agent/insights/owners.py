"""Owners named by their role: "the designer will …", "as the industrial designer, you're going to …".

A role phrase becomes the name of the one speaker whose name (or enrolled role) holds
its words ("industrial designer" → the speaker named "Industrial Designer"); without
one it stays the role as said ("Designer", "Legal team").
"""

from __future__ import annotations

import re

ROLE_NOUN = (
    r"(?:designer|manager|expert|engineer|developer|lead|leader|analyst|architect|consultant|director|specialist|"
    r"coordinator|owner|officer|admin|administrator|team|person|people|guy|department|marketing|legal|finance|sales|support|ops|"
    r"operations|pm|ui|ux|qa|hr)"
)
ROLE = rf"(?:(?:the|our|your)\s+)?(?:[a-z]+\s+){{0,2}}{ROLE_NOUN}"
TITLED = r"(?-i:(?:[A-Z][a-z]+\s+){0,2}[A-Z][a-z]+|[A-Z]{2,4})"  # "Industrial Designer", "UID"
ONE = rf"(?:(?:the|our)\s+(?:[a-z]+\s+){{0,2}}{ROLE_NOUN}|(?:the\s+)?{TITLED})"
EVERYONE = r"(?:everyone|everybody|all of you|each of you|you all|you two|both of you)"
ROLE_SUBJECT = re.compile(rf"^(?:and\s+|so\s+|then\s+)*(?P<role>{ONE}(?:\s+and\s+{ONE})?|{EVERYONE})(?:'s)?(?=\s|$)", re.IGNORECASE)
ROLE_VOCATIVE = re.compile(
    rf"^(?:and\s+|so\s+|then\s+|now\s+)*(?:(?:as|for)\s+)?(?P<role>{ROLE}|(?:the\s+)?{TITLED}),\s+(?:(?:that's|that is) you,?\s+)?(?=you\b|you're\b|you'll\b)",
    re.IGNORECASE,
)
ASIDE = re.compile(r",\s+(?:that's|that is|who is|which is)\s+\w+(?:\s\w+)?,", re.IGNORECASE)
DROP = {"the", "our", "your", "a"}


def role_words(phrase: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", phrase.lower()) if w not in DROP]


def resolve(phrase: str, names: list[str]) -> str:
    """The speaker a role phrase points at, else the phrase itself, capitalised."""
    if re.fullmatch(EVERYONE, phrase.strip(), re.IGNORECASE):
        return "Everyone"
    parts = re.split(r"\s+and\s+", phrase.strip())
    if len(parts) > 1:
        return " and ".join(resolve(p, names) for p in parts)
    words = role_words(phrase)
    if not words:
        return phrase
    if len(words) == 1 and re.fullmatch(r"(?:the\s+)?[A-Z]{2,4}", phrase.strip()):
        initials = [n for n in names if "".join(w[0] for w in n.split()).lower().startswith(words[0])]
        if len(initials) == 1:
            return initials[0]
        return words[0].upper()
    hits = [n for n in names if all(re.search(rf"\b{re.escape(w)}", n.lower()) for w in words)]
    if len(hits) == 1:
        return hits[0]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


JOINT = re.compile(r"(?:,\s*(?:and\s+)?|\s+and\s+)")
MODAL_AHEAD = re.compile(
    r"^(?:you(?:'re| are)?\s+)?(?:'s\s+)?(?:will|'ll|is going to|are going to|going to|has to|have to|needs? to|must|should)\b", re.I
)


def split_assignments(text: str) -> list[str]:
    """'The designer will do X and the Marketing Expert is going to do Y' → one part per assignment."""
    cuts = [0]
    for m in JOINT.finditer(text):
        rest = text[m.end():]
        head = ROLE_VOCATIVE.match(rest) or ROLE_SUBJECT.match(rest)
        if head and head["role"].split()[0][:1].isupper() or head and head["role"].lower().startswith(("the ", "our ")):
            after = ASIDE.sub("", rest[head.end():], count=1).strip(" ,")
            if MODAL_AHEAD.match(after):
                cuts.append(m.start())
    cuts.append(len(text))
    return [text[a:b].strip(" ,") for a, b in zip(cuts, cuts[1:]) if text[a:b].strip(" ,")]


def mentions(text: str, names: list[str]) -> list[tuple[int, int, str]]:
    """Where people are named in a sentence, by name, by initials ('UID') or by role ('the designer'): (start, end, owner)."""
    spans: list[tuple[int, int, str]] = []
    taken = lambda a, b: any(a < e and s < b for s, e, _ in spans)  # noqa: E731
    for name in sorted(names, key=len, reverse=True):
        for m in re.finditer(rf"\b{re.escape(name)}\b", text, re.IGNORECASE):
            if not taken(m.start(), m.end()):
                spans.append((m.start(), m.end(), name))
    initials = {"".join(w[0] for w in n.split()).upper(): n for n in names if len(n.split()) > 1}
    for m in re.finditer(r"\b[A-Z]{2,4}\b", text):
        hits = [n for key, n in initials.items() if key.startswith(m.group())]
        if len(hits) == 1 and not taken(m.start(), m.end()):
            spans.append((m.start(), m.end(), hits[0]))
    for m in re.finditer(rf"\b(?:the|our)\s+(?:[a-z]+\s+){{0,2}}{ROLE_NOUN}\b|\b{EVERYONE}\b", text, re.IGNORECASE):
        if not taken(m.start(), m.end()):
            spans.append((m.start(), m.end(), resolve(m.group(), names)))
    return sorted(spans)
