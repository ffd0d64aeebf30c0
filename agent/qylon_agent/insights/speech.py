"""Speech as people really talk: clean a transcribed sentence before the rules read it, and
tell a task from chatter.

Transcripts of real meetings have fillers ("um", "uh", "you know"), repeated words
("our our project"), false starts ("th tried"), spoken forms ("gonna", "wanna") and
spelled letters ("T_V_" in some human transcripts). ``clean`` turns them into the
plain sentence the rules expect; ``is_task`` says whether a phrase is something a
person can go and do: a verb phrase with something specific to act on, not a
filler, a fragment, a greeting, a closing or talk about the meeting itself.
"""

from __future__ import annotations

import re

from ..text import STOPWORDS

FILLERS = re.compile(
    r"(?<![\w'])(?:u+h+m*|u+m+|e+r+m+|e+r+|a+h+|o+h+|h+m+|m+h*m+|mm-hmm|uh-huh|um-hum|hmm+|whoo+hoo+)(?![\w'])[,.]?",
    re.IGNORECASE,
)
SOFT_FILLERS = re.compile(
    r",?\s*\b(?:you know|i mean|sort of|kind of|like you know|you see|as it were)\b,?",
    re.IGNORECASE,
)
LEADING_FILLER = re.compile(  # discourse markers before what is said: "Okay, so, great, …"
    r"^(?:(?:ok(?:ay)?|so|and|but|or|well|right|alright|also|good|great|perfect|fine|then|now|yes|yeah|sure|"
    r"agreed|thanks|oh|um|uh|actually|and then|all right|cool|finally|lastly|anyway)\b[,.!]?\s+)+",
    re.IGNORECASE,
)
SPOKEN = [
    (r"\bgonna\b", "going to"),
    (r"\bwanna\b", "want to"),
    (r"\bgotta\b", "got to"),
    (r"\bgimme\b", "give me"),
    (r"\b'?kay\b", "okay"),
    (r"\bdunno\b", "don't know"),
    (r"\blemme\b", "let me"),
    (r"\bcos\b|'cause\b", "because"),
]
LETTERS = re.compile(r"\b((?:[A-Za-z]_)+)")
STUTTER = re.compile(r"\b(\w+(?:\s+\w+)?)(?:,?\s+\1\b)+", re.IGNORECASE)
FRAGMENT = re.compile(r"(?<![\w'])(?!(?:a|i|o)\b)[b-hj-np-z](?=\s)")

# Verbs that narrate the meeting itself ("I'll show you", "let me go through this") rather than a task after it.
MEETING_TALK = {
    "show",
    "go",
    "come",
    "move",
    "scroll",
    "switch",
    "open",
    "close",
    "start",
    "begin",
    "continue",
    "explain",
    "tell",
    "talk",
    "say",
    "speak",
    "draw",
    "read",
    "sum",
    "summarise",
    "summarize",
    "pass",
    "hand",
    "sit",
    "stand",
    "wait",
    "stop",
    "end",
    "hold",
    "point",
    "turn",
    "click",
    "put",
    "plug",
    "unplug",
    "grab",
    "hang",
    "leave",
    "skip",
    "jump",
    "scoot",
    "wrap",
    "recap",
    "repeat",
    "give",
    "let",
    "keep",
    "see",
    "hear",
    "listen",
    "answer",
    "ask",
    "introduce",
    "mention",
    "note",
    "bring",
    "change",
    "use",
    "try",
    "be",
    "have",
    "meet",
    "reconvene",
    "stay",
    "head",
    "break",
    "return",
}
# Some of those are tasks when what follows says so: "send", "check" are never narration; these need an object that is work.
WORK_OBJECTS = re.compile(
    r"\b(the minutes\b|report|notes|document|documents|folder|email|e-mail|mail|proposal|plan|draft|slides|deck|"
    r"invoice|contract|quote|estimate|budget|prototype|spec|specification|requirements|survey|"
    r"questionnaire|research|results|summary|agenda|schedule|ticket|"
    r"concept|analysis|figures|numbers|costs|prices|samples|version|feedback|approval|sign-off)\b",
    re.IGNORECASE,
)
HERE_AND_NOW = re.compile(  # done there and then, in the meeting: not a task for later
    r"\b(?:in a (?:moment|minute|second|sec)|right now|at the moment|(?:this|the|that) (?:whiteboard|slide|screen)\b|"
    r"(?:tell|show|give|walk) (?:you|us)\b|get to know|each other)",
    re.IGNORECASE,
)
GREETING_OR_CLOSING = re.compile(
    r"^(?:hi|hello|hey|good (?:morning|afternoon|evening|night)|bye|goodbye|see you|talk (?:soon|later|to you)|"
    r"thanks?|thank you|cheers|welcome|have a (?:good|nice|great)|take care)\b|"
    r"\b(?:end of the meeting|meeting(?:'s| is)? over|that's (?:it|all)|we're done|we are done|close the meeting|"
    r"wrap (?:it|this|things) up|call it a day)\b",
    re.IGNORECASE,
)
DANGLING = {
    "and",
    "or",
    "but",
    "before",
    "after",
    "because",
    "so",
    "the",
    "a",
    "an",
    "to",
    "with",
    "of",
    "for",
    "we",
    "i",
    "that's",
    "yeah",
    "if",
    "than",
    "as",
}
PRONOUNS = {
    "it",
    "that",
    "this",
    "them",
    "those",
    "these",
    "one",
    "something",
    "anything",
    "everything",
    "stuff",
    "things",
    "thing",
    "there",
    "here",
}
FUNCTION_WORDS = (
    STOPWORDS
    | {
        "what",
        "which",
        "who",
        "how",
        "when",
        "where",
        "why",
        "not",
        "no",
        "yes",
        "very",
        "really",
        "quite",
        "bit",
        "lot",
        "lots",
        "little",
        "now",
        "still",
        "even",
        "there",
        "here",
        "going",
        "get",
        "got",
        "do",
        "done",
        "make",
        "made",
        "have",
        "has",
        "had",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "one",
        "ones",
        "thing",
        "things",
        "something",
        "stuff",
        "way",
        "well",
        "right",
        "okay",
        "ok",
        "yeah",
    }
    | {
        f"{p}'{c}"
        for p in ("i", "we", "you", "they", "it", "that", "there", "he", "she", "what")
        for c in ("s", "ve", "re", "ll", "d", "m")
    }
)


def clean(text: str) -> str:
    """A spoken sentence without fillers, stutters and spoken forms: 'Um so I'm gonna uh send the the report' →
    'so I'm going to send the report'."""
    out = LETTERS.sub(lambda m: m.group(1).replace("_", ""), text)
    for pattern, repl in SPOKEN:
        out = re.sub(pattern, repl, out, flags=re.IGNORECASE)
    out = FILLERS.sub(" ", out)
    out = SOFT_FILLERS.sub(" ", out)
    out = FRAGMENT.sub(" ", out)
    for _ in range(2):
        out = STUTTER.sub(r"\1", out)
    out = re.sub(r"\s+([,.?!])", r"\1", out)
    out = re.sub(r"([,.?!])(?:\s*[,])+", r"\1", out)
    out = re.sub(r"^[\s,.;:]+", "", out)
    return re.sub(r"\s{2,}", " ", out).strip()


def head_verb(task: str) -> str:
    words = re.findall(r"[a-z']+", task.lower())
    return words[0] if words else ""


def content(task: str) -> list[str]:
    """The words of a task that say what it is about (no function words, pronouns or fragments)."""
    return [
        w
        for w in re.findall(r"[a-z][a-z'-]+", task.lower())
        if w not in FUNCTION_WORDS and len(w) > 2
    ]


def is_task(task: str) -> bool:
    """A verb phrase someone can go and do: not a filler, fragment, greeting, closing or narration of the meeting."""
    text = task.strip(" ,.;:!?")
    if not text or GREETING_OR_CLOSING.search(text) or FILLERS.fullmatch(text):
        return False
    words = re.findall(r"[A-Za-z']+", text)
    if len(words) < 2 or len(words) > 25 or words[-1].lower() in DANGLING:
        return False  # a fragment: cut off mid-phrase ("… before we", "… and")
    verb = head_verb(text)
    if verb in FUNCTION_WORDS - {"do", "make", "get", "have"} or verb.endswith(("'s", "n't")):
        return False
    words = content(text)
    if words and words[0] == verb:  # the verb, unless it is a stop word itself ("do")
        words = words[1:]
    what = [w for w in words if w not in PRONOUNS]
    if not what:
        return False  # "take care of that", "do it", "add it": nothing to act on
    if verb in MEETING_TALK and not WORK_OBJECTS.search(text) or HERE_AND_NOW.search(text):
        return False
    return not re.search(
        r"[?]|\b(?:i think|i guess|i suppose|or something|whatever)\b", text, re.IGNORECASE
    )


E_VERBS = {
    "make",
    "take",
    "prepare",
    "write",
    "use",
    "evaluate",
    "decide",
    "provide",
    "create",
    "update",
    "compile",
    "share",
    "finalise",
    "finalize",
    "organise",
    "organize",
    "choose",
    "have",
    "give",
    "leave",
    "move",
    "receive",
    "store",
    "improve",
    "change",
    "manage",
    "continue",
    "produce",
    "define",
    "describe",
    "analyse",
    "analyze",
    "investigate",
    "arrange",
    "schedule",
    "reduce",
    "code",
    "close",
    "compare",
    "explore",
    "figure",
    "examine",
    "source",
    "price",
    "structure",
    "operate",
    "negotiate",
    "estimate",
    "propose",
    "measure",
    "introduce",
    "circulate",
    "calculate",
    "validate",
    "translate",
    "argue",
}


def base_form(gerund: str) -> str:
    """'working' → 'work', 'preparing' → 'prepare', 'planning' → 'plan'; other words unchanged."""
    low = gerund.lower()
    if not low.endswith("ing") or len(low) < 6:
        return gerund
    stem = low[:-3]
    if stem + "e" in E_VERBS:
        stem += "e"
    elif len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
        stem = stem[:-1]
    return stem


TIME_WORDS = {
    "week",
    "weeks",
    "day",
    "days",
    "month",
    "months",
    "year",
    "quarter",
    "time",
    "moment",
    "morning",
    "afternoon",
    "evening",
    "night",
    "weekend",
    "minute",
    "minutes",
    "hour",
    "hours",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "end",
    "start",
    "beginning",
}
DETERMINER = r"(?:the|our|your|their|his|her|this|these|those|a|an)"
NOUN_PHRASE = re.compile(
    rf"\b{DETERMINER}\s+((?:[a-z][\w-]*\s+){{0,3}}?[a-z][\w-]*)(?=\s*(?:[,.;:!?]|$|\s+(?:{'|'.join(sorted(FUNCTION_WORDS | {'myself', 'yourself', 'though', 'afterwards', 'later', 'today', 'tomorrow'}))})\b))",
    re.IGNORECASE,
)


def last_noun_phrase(text: str) -> str | None:
    """The last 'the X' spoken in a sentence: what a following 'it' most likely points at."""
    found = [
        m
        for m in NOUN_PHRASE.finditer(text)
        if content(m.group(1)) and m.group(1).split()[-1].lower() not in TIME_WORDS
    ]
    if not found:
        return None
    m = found[-1]
    return (
        "the " + m.group(1)
        if m.group(0).split()[0].lower() in ("this", "that", "these", "those")
        else m.group(0)
    )


def object_of(task: str) -> str | None:
    m = re.search(rf"\b{DETERMINER}\s+.+$", task, re.IGNORECASE)
    return m.group(0) if m and content(m.group(0)) else None


def first_noun_phrase(text: str) -> str | None:
    """The first 'the X' of a phrase that is about something (not a time): 'the working design'."""
    for m in NOUN_PHRASE.finditer(text):
        if content(m.group(1)) and m.group(1).split()[-1].lower() not in TIME_WORDS:
            return m.group(0)
    return None
