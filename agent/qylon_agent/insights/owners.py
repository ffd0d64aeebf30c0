"""Owners named by their role: "the designer will …", "as the industrial designer, you're going to …".

A role phrase becomes the name of the one speaker whose name (or enrolled role) holds
its words ("industrial designer" → the speaker named "Industrial Designer"); without
one it stays the role as said ("Designer", "Legal team").
"""

from __future__ import annotations

import functools
import itertools
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
ROLE_SUBJECT = re.compile(
    rf"^(?:and\s+|so\s+|then\s+)*(?P<role>{ONE}(?:\s+and\s+{ONE})?|{EVERYONE})(?:'s)?(?:\s+(?:over\s+)?(?:here|there))?(?=\s|$)",
    re.IGNORECASE,
)
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
        initials = [
            n for n in names if "".join(w[0] for w in n.split()).lower().startswith(words[0])
        ]
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
    r"^(?:you(?:'re| are)?\s+)?(?:'s\s+)?(?:will|'ll|is going to|are going to|going to|has to|have to|needs? to|must|should)\b",
    re.IGNORECASE,
)


def head(text: str, names: list[str]) -> tuple[str, int, bool] | None:
    """Who a clause starts by naming: (the phrase, where it ends, whether it was a vocative 'X, you …')."""
    voc = ROLE_VOCATIVE.match(text)
    if voc:
        return voc["role"], voc.end(), True
    subj = ROLE_SUBJECT.match(text)
    if subj and (
        subj["role"][:1].isupper()
        or subj["role"].lower().startswith(("the ", "our "))
        or re.fullmatch(EVERYONE, subj["role"], re.IGNORECASE)
    ):
        return subj["role"], subj.end(), False
    lead = re.match(r"^(?:(?:and|so|then|now)\s+)*", text, re.IGNORECASE).end()
    spans = [sp for sp in mentions(text[lead:], names) if sp[0] == 0]
    if spans:
        return spans[0][2], lead + spans[0][1], False
    return None


def split_assignments(text: str, names: list[str]) -> list[str]:
    """'The designer will do X and the Marketing Expert is going to do Y' → one part per assignment."""
    cuts = [0]
    for m in JOINT.finditer(text):
        rest = text[m.end() :]
        found = head(rest, names)
        if found:
            after = ASIDE.sub("", rest[found[1] :], count=1).strip(" ,")
            if MODAL_AHEAD.match(after):
                cuts.append(m.start())
    cuts.append(len(text))
    return [text[a:b].strip(" ,") for a, b in itertools.pairwise(cuts) if text[a:b].strip(" ,")]


@functools.lru_cache(maxsize=256)
def _name_patterns(name: str) -> list[re.Pattern]:
    """A speaker named in full, by the start of the name ("Industrial Design" for "Industrial Designer"), or by the
    first word ("Dana" for "Dana Lee", "marketing" for "Marketing Expert")."""
    words = name.split()
    pats = [re.compile(r"\b" + r"\s+".join(re.escape(w) for w in words) + r"\b", re.IGNORECASE)]
    if len(words) > 1:
        second = words[1]
        pats.append(
            re.compile(
                rf"\b{re.escape(words[0])}\s+{re.escape(second[: max(4, len(second) - 2)])}\w*",
                re.IGNORECASE,
            )
        )
        first = words[0]
        if len(first) >= 6:
            pats.append(re.compile(rf"\b{re.escape(first)}\b", re.IGNORECASE))
        elif len(first) >= 3 and first[0].isupper():
            pats.append(re.compile(rf"\b{re.escape(first)}\b"))
    return pats


def mentions(text: str, names: list[str]) -> list[tuple[int, int, str]]:
    """Where people are named in a sentence, by name, by initials ('UID') or by role ('the designer'): (start, end, owner)."""
    spans: list[tuple[int, int, str]] = []
    taken = lambda a, b: any(a < e and s < b for s, e, _ in spans)
    found: dict[tuple[int, int], set[str]] = {}
    for name in names:
        for pat in _name_patterns(name):
            for m in pat.finditer(text):
                found.setdefault((m.start(), m.end()), set()).add(name)
    for (start, end), who in sorted(
        found.items(), key=lambda kv: kv[0][0] - kv[0][1]
    ):  # longest first
        name = next(iter(who))
        thing = text[start:end].lower() != name.lower() and re.search(
            r"\b(?:the|our|your|a|an|their|this)\s+$", text[:start], re.IGNORECASE
        )
        if (
            len(who) == 1 and not taken(start, end) and not thing
        ):  # "the user interface concept" is no person
            spans.append((start, end, name))
    initials = {"".join(w[0] for w in n.split()).upper(): n for n in names if len(n.split()) > 1}
    for m in re.finditer(r"\b[A-Z]{2,4}\b", text):
        hits = [n for key, n in initials.items() if key.startswith(m.group())]
        if len(hits) == 1 and not taken(m.start(), m.end()):
            spans.append((m.start(), m.end(), hits[0]))
    for m in re.finditer(
        rf"\b(?:the|our)\s+(?:[a-z]+\s+){{0,2}}{ROLE_NOUN}\b|\b{EVERYONE}\b", text, re.IGNORECASE
    ):
        if not taken(m.start(), m.end()):
            spans.append((m.start(), m.end(), resolve(m.group(), names)))
    return sorted(spans)
