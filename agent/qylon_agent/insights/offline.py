"""The offline extractor: action items, decisions and a summary by rules, no model needed.

It reads the transcript sentence by sentence, knowing who spoke (a speaker's name
when known, else its label) and keeps a little state: the last open request
("Bob, could you ...?") waiting for an answer, and whether a recap is under way.

- Commitments: "I'll / I will / I'm going to / let me ..." (owner: the speaker),
  "we'll ..." (the speaker), "Alice will / is going to / needs to ..." (Alice),
  "Dana, you'll ..." (Dana); "action item: ..." lines.
- Requests: "Bob, could you ...?", "can someone ...?" become items only when
  accepted ("Yes, I can do that", "Sure", "Will do"); the owner is the person
  addressed, else whoever accepted. A refusal drops the request.
- Not commitments: conditionals and hedges ("if ...", "maybe", "I could", "I'd"),
  negations ("I won't"), questions nobody accepts, states ("I'll be out").
- Recaps ("to recap, Bob sends the report") restate items; merge.py folds them in.

On a long spoken meeting (``classifier.applies``: 400 words or more) a sentence
classifier chooses which sentences become items and these rules phrase them
(``chosen.py``); shorter transcripts are the rules' alone.
"""

from __future__ import annotations

import re
from datetime import date

from qylon_cli.schemas import Meeting

from . import classifier, dates, owners, speech, summary
from .merge import merge_items, merge_texts
from .patterns import (
    ACCEPT,
    ACTION_LINE,
    CLAUSE,
    DECISION,
    FILLER,
    HEDGES,
    MODAL,
    NAME,
    NEED,
    NEGATION,
    NOT_NAMES,
    PRONOUN_OBJECT,
    PRONOUN_TASK,
    RECAP,
    REFUSE,
    REQUEST,
    STATIVE,
    TAKE,
    UNDECIDED,
    VAGUE,
    WRAP_UP,
)
from .phrasing import clean_task, decision_text, gerund, third_person_to_base
from .result import Found, Insights


class Sentence:
    def __init__(self, text: str, speaker: str | None, start: float):
        self.text, self.speaker, self.start = text.strip(), speaker, start


def sentences(meeting: Meeting) -> list[Sentence]:
    names = {sp.id: sp.name or sp.id for sp in meeting.speakers}
    out: list[Sentence] = []
    for seg in meeting.segments:
        speaker = names.get(seg.speaker, seg.speaker) if seg.speaker else None
        text = speech.clean(seg.text)
        span = max(seg.end - seg.start, 0.0)
        for m in re.finditer(r"[^.!?]+(?:[.!?]+|$)", text):
            piece = m.group().strip()
            if len(piece) > 1:
                out.append(
                    Sentence(
                        piece, speaker, round(seg.start + span * m.start() / max(len(text), 1), 2)
                    )
                )
    return out


def _is_name(word: str | None) -> bool:
    return bool(word) and word.split()[0] not in NOT_NAMES


DATE_ONLY = re.compile(  # a sentence that is only a date: "By Friday.", "Tomorrow, ideally."
    r"^\W*(?:(?:by|on|before|until|for)\s+)?(?:(?:next|this)\s+)?"
    r"(?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"week|end of (?:the )?(?:day|week|month))"
    r"(?:\s+(?:morning|afternoon|evening))?(?:,?\s+(?:ideally|please|latest|at the latest))?\W*$",
    re.IGNORECASE,
)
COUNTER = re.compile(r"\b(?:so|but|how about|what about|instead|could do|can do)\b", re.IGNORECASE)
ALSO = re.compile(r"\b(?:also|too|as well|another|and I'll|plus)\b", re.IGNORECASE)
# "it's X", "that's X": X describes what was spoken of, it is not a new thing to refer to
COPULA = re.compile(r"^(?:it|that|this)(?:'s|\s+is|\s+was)\b", re.IGNORECASE)


class Extractor:
    """One pass over the sentences of a meeting."""

    def __init__(self, meeting: Meeting, ref: date, weights=None):
        self.meeting, self.ref, self.weights = meeting, ref, weights
        self.items: list[Found] = []
        self.decisions: list[str] = []
        self.pending: dict | None = None  # an open request or an unowned need
        self.recap_left = 0
        self.names = {sp.name for sp in meeting.speakers if sp.name}
        self.topic: str | None = None  # the last thing spoken of, for "review it"
        self.wrap_left = 0  # sentences left in the wrap-up, where work is handed out
        self.handed: Found | None = None  # an item just handed to someone else by name
        self.just: tuple[str | None, Found] | None = None  # the last sentence's item, by whom

    def run(self) -> Insights:
        sents = sentences(self.meeting)
        for sent in sents:
            self.step(sent)
        items = [i for i in merge_items(self.items) if speech.is_task(i.task)]
        if classifier.applies(self.meeting):  # a real, long conversation: the classifier chooses
            from . import chosen

            items = chosen.choose(self.meeting, self.ref, items, self.weights)
        return Insights(
            items=items,
            decisions=merge_texts(self.decisions),
            summary=summarize(sents, self.decisions, items),
        )

    # -- one sentence ----------------------------------------------------
    def step(self, sent: Sentence) -> None:
        handed, self.handed = self.handed, None
        just, self.just = self.just, None
        if just and just[0] == sent.speaker and just[1].due is None and DATE_ONLY.match(sent.text):
            # "I'll do the forecast myself then. By Friday.": the date said after the task
            just[1].due = dates.resolve_due(sent.text, self.ref)
            return
        before = len(self.items)
        self._step(sent)
        new = self.items[before:]
        if new:
            self.just = (sent.speaker, new[-1])
        if (
            handed is not None
            and len(new) == 1
            and sent.speaker == handed.owner == new[0].owner
            and ACCEPT.match(sent.text.strip())
            and not ALSO.search(sent.text)
        ):
            # "Ken will set up the call." "Yep, I'll send the invite this afternoon.": the
            # one handed the task says how they will do it; one task, with their date
            del self.items[before:]
            handed.due = handed.due or new[0].due
        elif len(new) == 1 and new[0].owner and new[0].owner != sent.speaker:
            self.handed = new[0]

    def _step(self, sent: Sentence) -> None:
        raw = sent.text
        text = FILLER.sub("", raw).strip()
        if RECAP.search(raw):
            self.recap_left = 6
            text = re.sub(
                r"^.*?\b(?:recap|summari[sz]e|sum up|summary|confirm|wrap up|wrapping up)\b[,:]?\s*",
                "",
                text,
                flags=re.IGNORECASE,
            )
            text = re.sub(
                r"^(?:the action items are|action items are|next steps are)\s*:?\s*",
                "",
                text,
                flags=re.IGNORECASE,
            )
        elif self.recap_left:
            self.recap_left -= 1
        if WRAP_UP.search(raw) or RECAP.search(raw):
            self.wrap_left = 10
        elif self.wrap_left:
            self.wrap_left -= 1
        if self._answer(sent, raw):
            return
        if (
            DECISION.search(raw)
            and not raw.rstrip().endswith("?")
            and not UNDECIDED.match(text)
            and len(raw.split()) <= 30
        ):
            self.decisions.append(decision_text(raw))
            return
        m = ACTION_LINE.match(text)
        if m:
            self._action_line(sent, m)
            return
        if re.match(
            r"^(?:if|unless|in case|suppose|supposing|assuming|what if)\b", text, re.IGNORECASE
        ):
            return
        before = len(self.items)
        for part in owners.split_assignments(
            text, [sp.name or sp.id for sp in self.meeting.speakers]
        ):
            for clause in re.split(CLAUSE, part):
                self._clause(sent, clause.strip())
        if self.wrap_left and len(self.items) == before:
            self._handed_out(sent, text)
        if not COPULA.match(text):  # "It's the token refresh": says what the topic is
            self.topic = speech.last_noun_phrase(text) or self.topic

    def _answer(self, sent: Sentence, raw: str) -> bool:
        """An answer to the open request: accepted (an item), refused (dropped), or not an answer."""
        pending = self.pending
        if (
            pending
            and pending.get("counter")
            and sent.speaker == pending["speaker"]
            and ACCEPT.match(raw.strip())
        ):
            # "Can you call them this week?" "I'm out tomorrow, so next Tuesday?" "Fine, Tuesday then."
            due = dates.resolve_due(raw, self.ref) or pending["due"]
            quote = f"{pending['quote']} — {raw.strip()}"
            self._append(Found(pending["task"], pending["counter"], due, quote, pending["start"]))
            self.pending = None
            return True
        if pending and pending["kind"] == "need" and TAKE.match(raw.strip()):
            due = dates.resolve_due(raw, self.ref) or pending["due"]
            self._append(
                Found(
                    pending["task"],
                    sent.speaker,
                    due,
                    f"{pending['quote']} — {raw.strip()}",
                    pending["start"],
                )
            )
            self.pending = None
            return True
        if (
            not pending
            or pending["kind"] != "request"
            or (sent.speaker and sent.speaker == pending["speaker"])
        ):
            if pending and pending["kind"] == "request":
                pending["age"] += 1
                if pending["age"] > 2:
                    self.pending = None
            return False
        if REFUSE.match(raw.strip()):
            other_day = dates.resolve_due(raw, self.ref)
            if other_day and sent.speaker and COUNTER.search(raw):
                pending.update(counter=sent.speaker, due=other_day)  # not now, but then
                return True
            pending["refused"] = True
            pending["age"] += 1
            return True
        taken = pending["who"] == "offer" and re.match(
            r"^(?:great|perfect|thanks|thank you|please do|go ahead|good|lovely|yes,? please)\b",
            raw.strip(),
            re.IGNORECASE,
        )
        if (
            taken
            or ACCEPT.match(raw.strip())
            or re.match(r"^i(?:'ll| will| can)\s+(?!be\b)", raw.strip(), re.IGNORECASE)
        ):
            owner = (
                pending["addressee"]
                if pending["addressee"] and not pending.get("refused")
                else sent.speaker
            )
            first_person = re.search(r"\b(?:I|I'll|I'm|me)\b", raw)
            if (
                pending["addressee"]
                and sent.speaker
                and sent.speaker != pending["addressee"]
                and first_person
                and sent.speaker in self.names
            ):
                owner = sent.speaker  # someone else took it on
            due = dates.resolve_due(raw, self.ref) or pending["due"]
            self._append(
                Found(
                    pending["task"],
                    owner,
                    due,
                    f"{pending['quote']} — {raw.strip()}",
                    pending["start"],
                )
            )
            self.pending = None
            return True
        pending["age"] += 1
        if pending["age"] > 2:
            self.pending = None
        return False

    def _request(
        self, sent: Sentence, text: str, task: str, *, addressee: str | None, who: str | None
    ) -> None:
        """Remember a request (or an offer) until someone answers it."""
        self.pending = {
            "kind": "request",
            "task": task,
            "addressee": addressee,
            "who": who,
            "due": dates.resolve_due(text, self.ref),
            "quote": sent.text,
            "start": sent.start,
            "speaker": sent.speaker,
            "age": 0,
        }

    def _offer(self, sent: Sentence, text: str, task: str) -> None:
        cleaned = clean_task(task, self.ref)
        if cleaned and not STATIVE.match(cleaned) and not VAGUE.match(cleaned):
            self._request(sent, text, cleaned, addressee=sent.speaker, who="offer")

    def _action_line(self, sent: Sentence, m: re.Match) -> None:
        rest = FILLER.sub("", m["rest"]).strip()
        before = len(self.items)
        self._clause(sent, rest, explicit=True)
        if len(self.items) > before:
            if m["for"] and m["for"].lower() in ("me", "myself", "us"):
                self.items[-1].owner = sent.speaker
            elif m["for"] and _is_name(m["for"]):
                self.items[-1].owner = m["for"]
            return
        owner = m["for"] if _is_name(m["for"]) else None
        if m["for"] and m["for"].lower() in ("me", "myself", "us"):
            owner = sent.speaker
        sub = re.match(rf"^(?P<who>{NAME})\s+to\s+(?P<task>.+)$", rest)
        if sub and _is_name(sub["who"]):
            owner, rest = sub["who"], sub["task"]
        self._add(sent, rest, owner)

    def _clause(self, sent: Sentence, text: str, *, explicit: bool = False) -> None:
        if not text:
            return
        req = REQUEST.match(text)
        if (
            req
            and (req["who"] or req["name1"] or req["name2"])
            and not HEDGES.search(re.sub(r"\b(?:could|would) you\b", "", text, flags=re.IGNORECASE))
        ):
            addressee = (
                req["name1"]
                if _is_name(req["name1"])
                else req["name2"]
                if _is_name(req["name2"])
                else None
            )
            task = clean_task(req["task"], self.ref)
            if task and not STATIVE.match(task):
                self._request(sent, text, task, addressee=addressee, who=req["who"])
                if not text.rstrip().endswith("?") and addressee and req["who"] is None:
                    self._add(sent, task, addressee, due_text=text)  # "Bob, please send ..."
                    self.pending = None
            return
        offer = re.search(
            r"(?:^|,\s*)(?:(?P<who>[Ww]ho)\s+(?:can|could|will|wants to)|(?P<self>[Ss]hould I|[Ss]hall I|[Dd]o you want me to))\s+(?P<task>[^?,]+)\?$",
            text,
        )
        if offer:
            addressee = sent.speaker if offer["self"] else None
            self._request(
                sent, text, clean_task(offer["task"], self.ref), addressee=addressee, who="offer"
            )
            return
        need = NEED.match(text)
        if need and not HEDGES.search(text):
            self.pending = {
                "kind": "need",
                "task": clean_task(need["task"] or need["task2"], self.ref),
                "due": dates.resolve_due(text, self.ref),
                "quote": sent.text,
                "start": sent.start,
            }
            if not text.lower().startswith("we need to"):
                return
        if text.rstrip().endswith("?"):
            return
        if HEDGES.search(text) or NEGATION.search(text):
            return
        if self._role_commit(sent, text):
            return
        commit = re.match(
            rf"^(?P<subj>I|We|we|{NAME}|you)(?:,\s*(?P<voc>{NAME}),)?\s*(?P<modal>{MODAL})\s+(?P<task>.+)$|"
            rf"^(?P<let>[Ll]et me)\s+(?P<task2>.+)$|"
            rf"^(?P<voc2>{NAME}),\s+you(?:'ll| will| are going to|'re going to| need to| have to)\s+(?P<task3>.+)$",
            text,
        )
        if commit:
            self._commit(sent, text, commit, explicit)
            return
        if self.recap_left or explicit:
            m = re.match(rf"^(?P<who>{NAME})\s+(?P<verb>[a-z]+s)\s+(?P<rest>.+)$", text)
            if (
                m
                and _is_name(m["who"])
                and m["verb"] not in ("is", "was", "has", "does", "says", "thinks", "agrees")
            ):
                self._add(sent, f"{third_person_to_base(m['verb'])} {m['rest']}", m["who"])

    def _handed_out(self, sent: Sentence, text: str) -> None:
        """At the wrap-up, work handed out without a verb: 'the designer, the components concept; marketing, trends'."""
        names = [sp.name or sp.id for sp in self.meeting.speakers]
        spans = owners.mentions(text, names)
        for (start, end, owner), nxt in zip(spans, spans[1:] + [(len(text), len(text), "")]):
            segment = text[end : nxt[0]]
            if len(segment.split()) > 14 or re.search(
                r"\b(?:was|were|did|had|said|told)\b|\?", segment, re.IGNORECASE
            ):
                continue
            lead = re.match(
                r"^[\s,;:]*(?:(?:you(?:'ve| have)?|is|are|will do|does|do|gets?|has|got)\s+){0,2}",
                segment,
            )
            after = segment[lead.end() :]
            what = speech.first_noun_phrase(after)
            if what and not after.lower().startswith(what.lower()):
                what = None  # the work must follow the name: "the designer, the components concept"
            bare = re.match(
                r"^([a-z][\w-]*(?:\s+[a-z][\w-]*){0,3})\s*(?:[,.;]|$)", after, re.IGNORECASE
            )
            if (
                not what
                and bare
                and len(speech.content(bare.group(1))) == len(bare.group(1).split())
            ):
                what = bare.group(1)  # "for user interface, technical functions"
            if what and owner and owner.split()[0] not in NOT_NAMES:
                self._add(sent, f"Work on {what}", owner, due_text=segment)

    def _role_commit(self, sent: Sentence, text: str) -> bool:
        """'The industrial designer will …', 'as the designer, you're going to be working on …': owner from the role."""
        names = [sp.name or sp.id for sp in self.meeting.speakers]
        found = owners.head(text, names)
        if not found:
            return False
        role, end, vocative = found
        if role.split()[0] in NOT_NAMES or role.split()[-1] in NOT_NAMES:
            return False
        rest = owners.ASIDE.sub("", text[end:], count=1).strip(" ,")
        pattern = r"you(?:'re| are)?" if vocative else r"(?:you(?:'re| are)?)?"
        m = re.match(
            rf"^{pattern}\s*(?:will|'ll|is going to|are going to|going to|is to|are to|needs to|need to|has to|have to|must|should)\s+(?:be\s+)?(?P<task>.+)$",
            rest,
            re.IGNORECASE,
        )
        if not m:
            return False
        task = m["task"]
        first = task.split()[0]
        task = speech.base_form(first) + task[len(first) :]
        self._add(sent, task, owners.resolve(role, names), due_text=text)
        return True

    @staticmethod
    def _in_the_meeting(subj: str, task: str, ref: date) -> bool:
        """'I'll just check …', 'we're going to look at the finances': what happens in the meeting, not after it
        (a "we'll …" with a date or a deliverable is work for later)."""
        if re.match(r"^(?:just|now|first|quickly|then)\b", task.strip(), re.IGNORECASE):
            return True
        return (
            subj != "I"
            and not speech.WORK_OBJECTS.search(task)
            and not dates.resolve_due(task, ref)
        )

    def _commit(self, sent: Sentence, text: str, m: re.Match, explicit: bool) -> None:
        if m["let"]:
            if re.match(r"^just\b", m["task2"], re.IGNORECASE):
                return  # "let me just check": done there and then
            owner, task = sent.speaker, m["task2"]
        elif m["voc2"]:
            if not _is_name(m["voc2"]):
                return
            owner, task = m["voc2"], m["task3"]
        else:
            subj, modal = m["subj"], m["modal"].lower()
            if subj in ("I", "We", "we"):
                owner = sent.speaker
                if modal == "can" and subj == "I" and not (explicit or self.recap_left):
                    self._offer(
                        sent, text, m["task"]
                    )  # "I can do X": an item once someone takes the offer
                    return
                if modal in ("should", "need to", "can") and not (explicit or self.recap_left):
                    return
                if self._in_the_meeting(subj, m["task"], self.ref) and not (
                    explicit or self.recap_left or self.wrap_left
                ):
                    return
            elif subj == "you":
                owner = m["voc"] if _is_name(m["voc"]) else None
                if owner is None:
                    if self.wrap_left and modal in ("will", "'ll", "are going to", "'re going to"):
                        # work handed to "you" at the wrap-up: whoever answers it is the one addressed
                        self._request(
                            sent,
                            text,
                            clean_task(gerund(m["task"]), self.ref),
                            addressee=None,
                            who="you",
                        )
                    return
            elif _is_name(subj):
                owner = subj
                if modal == "can" and not (explicit or self.recap_left):
                    return
            else:
                return
            task = m["task"]
        task = re.sub(r"^(?:try to|try and)\s+", "", task.strip(), flags=re.IGNORECASE)
        cleaned = clean_task(task, self.ref)
        if STATIVE.match(cleaned) or len(cleaned.split()) < 1:
            return
        if PRONOUN_TASK.match(cleaned) and not self.pending and self.items:
            last = self.items[-1]
            if last.owner == owner and last.task.split()[0].lower() == cleaned.split()[0].lower():
                last.due = last.due or dates.resolve_due(text, self.ref)
                return
        if VAGUE.match(cleaned) or (PRONOUN_TASK.match(cleaned) and self.pending):
            if self.pending and self.pending["kind"] in ("need", "request"):
                due = dates.resolve_due(text, self.ref) or self.pending["due"]
                self._append(
                    Found(
                        self.pending["task"],
                        owner,
                        due,
                        f"{self.pending['quote']} — {sent.text}",
                        self.pending["start"],
                    )
                )
                self.pending = None
            return
        self._add(sent, task, owner, due_text=text)

    def _append(self, found: Found) -> None:
        """Keep an item, its pronoun ("review it") replaced by what was last spoken of ("the proposal")."""
        m = PRONOUN_OBJECT.match(found.task)
        if (
            m
            and self.topic
            and not re.match(
                r"^\s+(?:the|a|an|our|your|their|some|this|these|those|\w+'s)\b",
                m["rest"] or "",
                re.IGNORECASE,
            )
        ):
            found.task = f"{m['verb']} {self.topic}{m['rest'] or ''}"
        self.items.append(found)
        self.topic = speech.object_of(found.task) or self.topic

    def _add(
        self, sent: Sentence, task: str, owner: str | None, *, due_text: str | None = None
    ) -> None:
        cleaned = clean_task(task, self.ref)
        if not cleaned or len(cleaned.split()) < 2 and not re.search(r"[a-z]{4,}", cleaned):
            return
        due = dates.resolve_due(due_text or task, self.ref)
        self._append(Found(cleaned, owner, due, sent.text, sent.start))


def summarize(sents: list[Sentence], decisions: list[str], items: list[Found]) -> str | None:
    quoted = {i.quote.split(" — ")[0] for i in items if i.quote}
    return summary.describe(
        [s.text for s in sents], decisions=decisions, items=items, quoted=quoted
    )


def extract(meeting: Meeting, ref: date | None = None, *, weights=None) -> Insights:
    """Action items, decisions and a summary for ``meeting``; due dates relative to ``ref`` (default: its date).

    On a long spoken meeting (``classifier.applies``) the sentence classifier chooses the items, with its
    shipped weights unless ``weights`` (a ``classifier.Weights``, for cross-validation) are given."""
    return Extractor(meeting, ref or meeting.created_at.date(), weights).run()
