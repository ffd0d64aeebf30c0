"""Items of a long spoken meeting: the classifier chooses the sentences, the rules phrase them.

``classifier.ranked`` orders the meeting's sentences, most likely action first. Going down
that order, each sentence becomes an item until the meeting has ``classifier.k_for`` of
them:

- when the rules already found an item in that sentence, it is taken as they phrased it
  (owner, task, due date, pronoun resolved);
- otherwise the sentence is phrased here: spoken forms and fillers cleaned
  (``speech.clean``), the subject and modal dropped ("I'll look at the battery options
  then" → "Look at the battery options"), a pronoun object replaced by what was last
  spoken of; the owner is a person or role the sentence names ("the industrial designer
  will …"), else the speaker for "I" and "we", else the next speaker for "you";
- a sentence that does not phrase into a task (``speech.is_task``: no filler, fragment,
  greeting, closing or narration of the meeting) is passed over, as is one too close to
  an item already taken (a restatement).
"""

from __future__ import annotations

import re
from datetime import date

from qylon_cli.schemas import Meeting

from . import classifier, dates, owners, speech
from .merge import merge_items
from .patterns import NEGATION, PRONOUN_OBJECT, STATIVE
from .result import Found

MODALS = (
    r"(?:'ll|will|shall|'re going to|are going to|'m going to|am going to|is going to|'s going to|going to|should|"
    r"need to|needs to|have to|has to|'ve got to|have got to|got to|must|can|could|might|may|want to|are to|is to)"
)
SUBJECT_MODAL = re.compile(  # a commitment anywhere in the sentence: "…, as the designer, you're going to be working on …"
    rf"(?:^|(?<=[\s,;:]))(?P<subj>(?i:i|we|you|you guys|you two|everyone|everybody|they|(?:the|our)\s+[\w ]{{2,40}}?)|[A-Z][a-z]+)"
    rf"\s*(?i:{MODALS})\s+"
    r"(?i:(?:also|just|then|probably|maybe|still|all|both|definitely|really|actually|each)\s+)*(?i:be\s+)?"
    r"(?P<task>[a-z][\w'-]*\b.*)$",
)
LET = re.compile(r"\b(?P<subj>let's|let us|let me)\s+(?P<task>.+)$", re.IGNORECASE)
CUT = re.compile(
    r",\s+(?:and|but|so|because|cause|which|or|that|um)\b|\s+(?:because|so that|but|and then|as well as|or)\s+",
    re.IGNORECASE,
)
PROPOSAL = re.compile(  # a sentence kept whole must say what should happen, not describe what is
    r"\b(?:should|need|needs|have to|has to|must|will|'ll|going to|could|can|would|want to|wants to|let's)\b(?!')",
    re.IGNORECASE,
)
NOT_PROPOSAL = re.compile(  # questions said without a question mark, asides, introductions
    r"^(?:where|what|how|why|who|which|when|is|are|was|were|do|does|did|shall|can|could|would|will|there's|there is|"
    r"this is|that's|it's|i'm|i am|said|is it)\b",
    re.IGNORECASE,
)


def _at_segment(meeting: Meeting, found: Found) -> int | None:
    for i, seg in enumerate(meeting.segments):
        if found.start is not None and seg.start - 0.01 <= found.start <= seg.end + 0.01:
            return i
    return None


def _overlaps(a: str, b: str) -> bool:
    said = set(speech.content(a))
    return bool(said) and len(said & set(speech.content(b))) * 2 >= len(said)


def _commitments(text: str):
    """Every place a commitment starts in ``text``, first to last (they may nest: "we'll see, you'll draft …")."""
    for pattern in (SUBJECT_MODAL, LET):
        pos = 0
        while (m := pattern.search(text, pos)) is not None:
            yield m
            pos = m.start() + 1


def _owner(m: re.Match | None, text: str, speaker, nxt, names: list[str]) -> str | None:
    """Who a sentence's task is for: a person or role it names (its subject, else the last one named before the
    commitment, else the first one named), else the speaker for "I", "we" and "let's", else whoever speaks next
    for "you"."""
    subject = (m["subj"] if m else "").lower()
    if subject in ("everyone", "everybody", "you guys", "you two"):
        return "Everyone"
    at = m.start() if m else len(text)
    named = owners.mentions(text, names)
    own = [s for s in named if s[0] == at] or [s for s in named if s[1] <= at][-1:] or named[:1]
    if own:
        return own[0][2]
    if subject in ("i", "we") or subject.startswith("let"):
        return speaker
    if (
        subject == "you" or re.search(r"\byou(?:r|'ll|'re)?\b", text, re.IGNORECASE)
    ) and nxt != speaker:
        return nxt
    return speaker


def phrase(
    cand: classifier.Candidate, meeting: Meeting, ref: date, topic: str | None
) -> Found | None:
    """An item from one chosen sentence, or None when it says no task.

    A commitment in it ("… you're going to be working on the design") gives a verb phrase; a sentence
    without one is kept whole when it is a clause about something (the annotators' actions are often
    said so: "the two designers are to do the prototype"), never a question, greeting or closing."""
    from .phrasing import clean_task

    names = [sp.name or sp.id for sp in meeting.speakers]
    label = {sp.id: sp.name or sp.id for sp in meeting.speakers}
    speaker = label.get(cand.speaker, cand.speaker) if cand.speaker else None
    nxt = label.get(cand.next, cand.next) if cand.next else None
    text = speech.LEADING_FILLER.sub("", speech.clean(cand.raw)).strip(" ,.;:")
    if not text or text.endswith("?") or speech.GREETING_OR_CLOSING.search(text):
        return None
    due = dates.resolve_due(text, ref)
    start = meeting.segments[cand.segment].start
    for m in _commitments(text):
        owner = _owner(m, text, speaker, nxt, names)
        task = m["task"] if len(m["task"].split()) <= 20 else CUT.split(m["task"], maxsplit=1)[0]
        first = task.split()[0] if task.split() else ""
        task = clean_task(speech.base_form(first) + task[len(first) :], ref)
        pron = PRONOUN_OBJECT.match(task)
        if pron and topic and not (pron["rest"] or "").strip():
            task = f"{pron['verb']} {topic}"
        if task and not STATIVE.match(task) and speech.is_task(task):
            return Found(task, owner, due, text, start)
    task = clean_task(text if len(text.split()) <= 25 else CUT.split(text, maxsplit=1)[0], ref)
    words = task.split()
    if (
        3 <= len(words) <= 25
        and words[-1].lower().strip(",.") not in speech.DANGLING
        and len(set(speech.content(task)) - speech.PRONOUNS) >= 2
        and PROPOSAL.search(task)
        and not NOT_PROPOSAL.match(task)
        and not NEGATION.search(task)
        and not re.search(
            r"\b(?:i think|i guess|i suppose|i don't know|or something|whatever|i would say|i'd say|i can't)\b",
            task,
            re.IGNORECASE,
        )
    ):
        owner = _owner(None, text, speaker, nxt, names)
        return Found(task, owner, due, text, start)
    return None


def choose(
    meeting: Meeting, ref: date, by_rules: list[Found], weights: classifier.Weights | None = None
) -> list[Found]:
    """Up to ``k_for(meeting)`` items, in the classifier's order of confidence, then by time."""
    cands = classifier.candidates(meeting)
    order, unit = classifier.ranked(cands, weights)
    at_segment: dict[int, list[Found]] = {}
    for item in by_rules:
        seg = _at_segment(meeting, item)
        if seg is not None:
            at_segment.setdefault(seg, []).append(item)
    k = classifier.k_for(meeting)
    items: list[Found] = []
    kept: list[int] = []
    for j in order:
        if len(items) >= k:
            break
        cand = cands[j]
        if classifier.near_duplicate(unit, j, kept):
            continue
        ruled = [
            i
            for i in at_segment.get(cand.segment, [])
            if _overlaps((i.quote or "").split(" — ")[0], cand.text)
        ]
        if ruled:
            new = [i for i in ruled if i not in items]
        else:
            topic = next(
                (
                    speech.last_noun_phrase(speech.clean(c.raw))
                    for c in reversed(cands[max(0, j - 3) : j])
                    if speech.last_noun_phrase(speech.clean(c.raw))
                ),
                None,
            )
            item = phrase(cand, meeting, ref, topic)
            new = [item] if item else []
        if new:
            kept.append(j)
            items.extend(new)
    items = merge_items(items)
    return sorted(items, key=lambda i: i.start or 0.0)
