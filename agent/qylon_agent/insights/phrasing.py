"""How the offline extractor words what it found: a task without its date and the words
around it ("Send the report" from "also just send the report by Friday, please"), a verb
in its base form, a decision's text."""

from __future__ import annotations

import re
from datetime import date

from . import dates, speech
from .patterns import FILLER


def clean_task(text: str, ref: date) -> str:
    task = dates.strip_due(text, ref)
    task = re.sub(r"\s+", " ", task).strip(" ,.;:!?")
    task = re.sub(
        r"^(?:also|just|then|quickly|first|definitely|now|go ahead and|make sure (?:to|that i|we)|be sure to|"
        r"try to|try and|please|personally|still)\s+",
        "",
        task,
        flags=re.IGNORECASE,
    )
    task = re.sub(r"^(?:also|just|then|quickly)\s+", "", task, flags=re.IGNORECASE)
    task = re.sub(
        r"(?:,?\s+(?:please|for us|for me|as well|too|okay|ok|then|if you can|if possible|first thing|afterwards|later|in the meantime|first|"
        r"at the latest|latest|then|right away|myself|yourself|ourselves|themselves))+$",
        "",
        task,
        flags=re.IGNORECASE,
    )
    task = re.sub(r"\s+(?:at|by|on|before|until)(?:\s+the)?$", "", task, flags=re.IGNORECASE).strip(
        " ,.;:!?"
    )
    m = re.match(r"^(?:have to|need to|got to|must)\s+(.+)$", task, flags=re.IGNORECASE)
    if m:
        task = m.group(1)
    return task[:1].upper() + task[1:] if task else task


def third_person_to_base(verb: str) -> str:
    low = verb.lower()
    if low in ("is", "was", "has", "does", "needs"):
        return {"has": "have", "does": "do", "needs": "need"}.get(low, low)
    if low.endswith("ies") and len(low) > 4:
        return verb[:-3] + "y"
    if re.search(r"(sh|ch|ss|x|z|o)es$", low):
        return verb[:-2]
    return verb[:-1] if low.endswith("s") and not low.endswith("ss") else verb


def gerund(task: str) -> str:
    """'be working on the design' → 'work on the design'."""
    task = re.sub(r"^be\s+", "", task.strip(), flags=re.IGNORECASE)
    first = task.split()[0] if task.split() else ""
    return speech.base_form(first) + task[len(first) :]


def decision_text(raw: str) -> str:
    text = FILLER.sub("", raw.strip()).strip()
    text = re.sub(
        r"^(?:decision(?:\s+is)?|decided|the decision is)\s*:?\s*", "", text, flags=re.IGNORECASE
    )
    text = text.rstrip(" .!") + "."
    return text[:1].upper() + text[1:]
