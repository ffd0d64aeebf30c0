"""Names from the conversation itself, the way a note-taker picks them up.

Most voices in a consultant's meetings belong to people who never enroll. What
they say gives them away:

- a self-introduction ("Hi, this is Dana from finance", "I'm Laura", "my name is
  Iain") names the speaker;
- someone addressed by name ("Bob, could you take that?", "What do you think,
  Bob?") is most likely the next other person to speak;
- thanks by name right after a turn ("Thanks, Carol") names who just spoke;
- nobody addresses or thanks themselves, so those are evidence against the
  speaker who says them.

Evidence is combined over the whole meeting (noisy-OR of each clue's weight, cut
down by evidence against), each name goes to at most one speaker and each
speaker takes at most one name, best first. A name is applied at or above
``APPLY`` confidence (calibrated on real meetings: docs/speakers.md); down to
``SUGGEST`` it is only offered, with the quotes that support it.

A capitalised word counts as a name only if the meeting never uses it in lower
case and it is not a common sentence opener ("Okay", "Project manager", ...); a
word heard only at the start of a turn or sentence ("Nope, ...", "Excellent, ...")
is a name only when someone also introduced themselves with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qylon_cli.schemas import NameSuggestion, Segment, Speaker

APPLY = 0.5
APPLY_PARTICIPANT = 0.3  # a name on the meeting's participant list: one "Bob, could you...?"
SUGGEST = 0.2
SELF = 0.7  # "I'm Dana", "my name is Dana", "this is Dana from finance"
SELF_WEAK = 0.45  # "this is Dana.", "Dana here": also said of others, or of a thing
ADDRESSED = 0.3  # "Bob, could you...?": the next other speaker is Bob
THANKED = 0.3  # "Thanks, Carol": the previous other speaker is Carol
AGAINST = 0.7  # share of confidence removed when the speaker addressed or thanked that name
QUOTE_CHARS = 140

NAME = r"([A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?)"
_FILLER = r"(?:(?i:so|okay|ok|and|um|uh|well|right|alright|now|oh|hi|hey|hello|yeah|yes)\W+)*"
_SELF = re.compile(r"\b(?:I'm|I am|I'm called|[Mm]y name is|[Mm]y name's)\s+" + NAME + r"\b")
_SELF_INTRO = re.compile(
    r"(?:^|[.!?]\s+|,\s+)"
    + _FILLER
    + r"(?:[Tt]his is|[Ii]t's)\s+"
    + NAME
    + r"\s+(?:from|with|at|here)\b"
)
_SELF_WEAK = re.compile(
    r"(?:^|[.!?]\s+|,\s+)" + _FILLER + r"(?:[Tt]his is|[Ii]t's)\s+" + NAME + r"(?:[,.!?]|$)"
)
_HERE = re.compile(r"^\W*" + _FILLER + NAME + r"\s+here\b")
_REQUEST = r"(?i:could|can|would|will|do|did|are|were|have|what|how|when|where|why|which|please|any|you|your)\b"
_VOCATIVE_START = re.compile(r"(?:^|[.!?]\s+)\W*" + _FILLER + NAME + r",\s+(?=" + _REQUEST + r")")
_VOCATIVE_END = re.compile(r",\s+" + NAME + r"\s*\?\s*$")
_INNER_CAPS = re.compile(
    r"(?<=[a-z,;:]) " + NAME + r"\b"
)  # capitalised after a lower-case word: a proper noun
_THANKS = re.compile(
    r"^\W*" + _FILLER + r"(?i:thanks|thank you|cheers)(?i: very much| so much)?,?\s+" + NAME + r"\b"
)

NOT_NAMES = frozenset(
    [
        "I",
        "I'm",
        "Im",
        "Okay",
        "Ok",
        "Yeah",
        "Yes",
        "No",
        "Right",
        "Alright",
        "Well",
        "So",
        "And",
        "But",
        "Or",
        "Um",
        "Uh",
        "Oh",
        "Hi",
        "Hey",
        "Hello",
        "Thanks",
        "Thank",
        "Sure",
        "Good",
        "Great",
        "Fine",
        "Cool",
        "Nice",
        "Perfect",
        "Sorry",
        "Please",
        "Now",
        "Then",
        "Here",
        "There",
        "This",
        "That",
        "These",
        "Those",
        "It",
        "It's",
        "What",
        "Why",
        "How",
        "When",
        "Where",
        "Who",
        "Which",
        "Let",
        "Lets",
        "Maybe",
        "Just",
        "Also",
        "Actually",
        "Basically",
        "Anyway",
        "First",
        "Second",
        "Next",
        "Last",
        "Everyone",
        "Everybody",
        "Guys",
        "Team",
        "Folks",
        "All",
        "Sir",
        "Madam",
        "Mister",
        "Mr",
        "Mrs",
        "Ms",
        "Miss",
        "Doctor",
        "Dr",
        "God",
        "Lord",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Today",
        "Tomorrow",
        "Yesterday",
        "Project",
        "Manager",
        "User",
        "Interface",
        "Industrial",
        "Designer",
        "Marketing",
        "Expert",
        "Speaker",
        "Meeting",
        "Morning",
        "Afternoon",
        "Evening",
        "Nope",
        "Yep",
        "Yup",
        "Nah",
        "Ah",
        "Aha",
        "Hmm",
        "Mm",
        "Mhm",
        "Wow",
        "Excellent",
        "Absolutely",
        "Exactly",
        "Definitely",
        "Indeed",
        "Agreed",
        "True",
        "Brilliant",
    ]
)


@dataclass
class Clue:
    speaker: str
    name: str
    weight: float  # negative: evidence against
    kind: str  # self, addressed, thanked, against
    quote: str
    at: float


@dataclass
class Finding:
    speaker: str
    name: str
    confidence: float
    clues: list[Clue] = field(default_factory=list)

    def public(self) -> dict:
        return {
            "name": self.name,
            "confidence": round(self.confidence, 2),
            "evidence": [
                {"kind": c.kind, "quote": c.quote, "at": round(c.at, 1)}
                for c in self.clues
                if c.weight > 0
            ],
        }


def _turns(segments: list[Segment]) -> list[tuple[str, float, str]]:
    """(speaker, start, text) with a speaker's consecutive segments joined."""
    out: list[list] = []
    for s in segments:
        if not s.speaker or not s.text.strip():
            continue
        if out and out[-1][0] == s.speaker:
            out[-1][2] += " " + s.text.strip()
        else:
            out.append([s.speaker, s.start, s.text.strip()])
    return [tuple(t) for t in out]


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def clues(segments: list[Segment]) -> list[Clue]:
    """Every clue in the meeting, in order."""
    turns = _turns(segments)
    lower = {w for _, _, text in turns for w in re.findall(r"\b[a-z][a-z'-]+\b", text)}
    inner = {m.group(1) for _, _, text in turns for m in _INNER_CAPS.finditer(text)}
    introduced = {m.group(1) for _, _, text in turns for m in _SELF.finditer(text)}

    def ok(
        name: str, *, said_of_self: bool = False
    ) -> bool:  # said_of_self: no other sighting needed
        if name in NOT_NAMES or name.lower() in lower or len(name) < 2:
            return False
        return said_of_self or name in inner or name in introduced

    def other(k: int, step: int) -> int | None:
        j = k + step
        while 0 <= j < len(turns) and turns[j][0] == turns[k][0]:
            j += step
        return j if 0 <= j < len(turns) else None

    out: list[Clue] = []
    for k, (speaker, at, text) in enumerate(turns):
        quote = _quote(text)
        for rx, weight in (
            (_SELF, SELF),
            (_SELF_INTRO, SELF),
            (_SELF_WEAK, SELF_WEAK),
            (_HERE, SELF_WEAK),
        ):
            for m in rx.finditer(text):
                if ok(m.group(1), said_of_self=rx is _SELF):
                    out.append(Clue(speaker, m.group(1), weight, "self", quote, at))
        # "Bob, could you...": a name asked something needs no other sighting; "Nope, I..." is never asked.
        asked = [
            m.group(1) for m in _VOCATIVE_START.finditer(text) if ok(m.group(1), said_of_self=True)
        ]
        addressed = asked + [m.group(1) for m in _VOCATIVE_END.finditer(text) if ok(m.group(1))]
        thanked = [m.group(1) for m in _THANKS.finditer(text) if ok(m.group(1))]
        for names, step, weight, kind in (
            (addressed, 1, ADDRESSED, "addressed"),
            (thanked, -1, THANKED, "thanked"),
        ):
            for name in names:
                out.append(Clue(speaker, name, -AGAINST, "against", quote, at))
                j = other(k, step)
                if j is not None:
                    out.append(Clue(turns[j][0], name, weight, kind, quote, at))
    return out


def people(participants: list[dict] | None) -> list[str]:
    """The participants' names (``{"name", "email"}``; from the email's local part,
    ``dana.lee@`` as Dana Lee, when no name is given), each once."""
    out: list[str] = []
    for p in participants or []:
        name = (p.get("name") or "").strip()
        if not name and p.get("email"):
            local = str(p["email"]).split("@", 1)[0]
            name = " ".join(w.capitalize() for w in re.split(r"[._-]+", local) if w.isalpha())
        if name and name.lower() not in {n.lower() for n in out}:
            out.append(name)
    return out


def resolve(name: str, listed: list[str]) -> str | None:
    """The one participant that ``name`` (their whole name, or their first) stands for."""
    low = name.lower()
    hits = {p for p in listed if p.lower() == low or p.split()[0].lower() == low}
    return hits.pop() if len(hits) == 1 else None


def infer(
    segments: list[Segment],
    *,
    taken: dict[str, str] | None = None,
    participants: list[str] | None = None,
) -> tuple[dict[str, Finding], dict[str, list[Finding]]]:
    """(names to apply by speaker, suggestions by speaker). ``taken``: speakers already named
    (by a profile or the user), whose names no one else may take. ``participants``: the
    meeting's people; a name that stands for one of them becomes their whole name and needs
    less confidence (``APPLY_PARTICIPANT``)."""
    taken = taken or {}
    listed = participants or []
    found = clues(segments)
    pairs: dict[tuple[str, str], list[Clue]] = {}
    for c in found:
        pairs.setdefault((c.speaker, c.name.lower()), []).append(c)
    findings = []
    for (speaker, _), cs in pairs.items():
        pos, against = 1.0, 1.0
        for c in cs:
            if c.weight > 0:
                pos *= 1 - c.weight
            else:
                against *= 1 + c.weight
        conf = (1 - pos) * against
        positive = [c for c in cs if c.weight > 0]
        if positive and conf >= SUGGEST:
            name = resolve(positive[0].name, listed) or positive[0].name
            findings.append(Finding(speaker, name, conf, cs))
    findings.sort(key=lambda f: -f.confidence)
    used = {(resolve(n, listed) or n).lower() for n in taken.values()}
    applied: dict[str, Finding] = {}
    suggestions: dict[str, list[Finding]] = {}
    for f in findings:
        if f.speaker in taken or f.name.lower() in used:
            continue  # named already, or the name is someone else's
        needed = APPLY_PARTICIPANT if f.name in listed else APPLY
        if f.confidence >= needed and f.speaker not in applied:
            applied[f.speaker] = f
            used.add(f.name.lower())
        suggestions.setdefault(f.speaker, []).append(f)
    return applied, suggestions


def name_speakers(
    segments: list[Segment], speakers: list[Speaker], participants: list[dict] | None = None
) -> list[Speaker]:
    """``speakers`` with names from the conversation where it is sure enough, and suggestions
    (the applied name first, with its quotes) for everyone not named otherwise.

    ``participants`` (``[{"name", "email"}]``: the video platform's list, or the calendar
    event's attendees) help: a name said that stands for one of them becomes their whole
    name, with less confidence needed; and when the meeting has as many speakers as
    participants and all but one of each are matched, the last speaker is the last
    participant (``name_source`` "participants")."""
    listed = people(participants)
    derived = ("conversation", "participants")
    taken = {sp.id: sp.name for sp in speakers if sp.name and sp.name_source not in derived}
    applied, suggestions = infer(segments, taken=taken, participants=listed)
    out = []
    for sp in speakers:
        update: dict = {
            "suggestions": [NameSuggestion(**f.public()) for f in suggestions.get(sp.id, [])]
        }
        if sp.id in applied:
            f = applied[sp.id]
            update |= {
                "name": f.name,
                "name_source": "conversation",
                "score": round(f.confidence, 2),
            }
        elif sp.name_source in derived:  # re-analysed: the evidence no longer holds
            update |= {"name": None, "name_source": None, "score": None}
        out.append(sp.model_copy(update=update))
    return _last_one_left(out, listed)


def _last_one_left(speakers: list[Speaker], listed: list[str]) -> list[Speaker]:
    if len(listed) < 2 or len(speakers) != len(listed):
        return speakers
    matched = {resolve(sp.name, listed) for sp in speakers if sp.name}
    left = [p for p in listed if p not in matched]
    unnamed = [sp for sp in speakers if not sp.name]
    if len(left) != 1 or len(unnamed) != 1:
        return speakers
    last = unnamed[0].model_copy(update={"name": left[0], "name_source": "participants"})
    return [last if sp.id == last.id else sp for sp in speakers]
