"""Due dates said in a meeting ("by Friday", "next Tuesday", "end of the month") as ISO dates.

Everything is relative to the meeting's date. The rules, so that people and the
benchmark agree on what a phrase means:

- a bare weekday or "by/on/before <weekday>": the next such day after the meeting
  ("Friday" said on a Friday is a week later);
- "this <weekday>": that day in the meeting's week (Monday to Sunday), or the next
  one when it has passed;
- "next <weekday>": that day in the following week;
- "today"/"end of day"/"tonight": the meeting day; "tomorrow": the day after;
- "this week"/"end of the week"/"before the weekend": Friday of the meeting's week;
  "next week"/"end of next week": Friday of the following week;
- "end of the month"/"month end": its last day; "end of next month" likewise;
- "end of the quarter"/"end of the year"; "in N days/weeks"/"within a week";
- explicit dates: "March 3", "3rd of March", "2026-03-03", "the 15th" (the next 15th).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "couple of": 2,
    "few": 3,
}

_WD = r"(?P<wd>mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_MON = r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DAY = r"(?P<day>[12]?\d|3[01])(?:st|nd|rd|th)?"
_NUM = r"(?P<n>\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|couple of|few)"
_LEAD = r"(?:(?:by|on|before|until|till|for|due|no later than|at the latest by)\s+)?"

# (pattern, kind) — tried in order; the first match in the text wins by position.
PATTERNS: list[tuple[str, str]] = [
    (r"\b(?P<iso>\d{4}-\d{2}-\d{2})\b", "iso"),
    (
        rf"\b{_LEAD}(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(?:business\s+|work(?:ing)?\s+)?day\b|\bEOD\b|\b{_LEAD}(?:today|tonight|this\s+(?:morning|afternoon|evening))\b|\blater\s+today\b",
        "today",
    ),
    (rf"\b{_LEAD}(?:the\s+)?day\s+after\s+tomorrow\b", "overmorrow"),
    (rf"\b{_LEAD}tomorrow\b", "tomorrow"),
    (rf"\b{_LEAD}(?:the\s+)?end\s+of\s+next\s+week\b|\b{_LEAD}next\s+week\b", "next_week"),
    (
        rf"\b{_LEAD}(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?week\b|\b{_LEAD}this\s+week\b|\bbefore\s+the\s+weekend\b|\bwithin\s+the\s+week\b",
        "this_week",
    ),
    (rf"\b{_LEAD}(?:the\s+)?end\s+of\s+next\s+month\b", "next_month_end"),
    (rf"\b{_LEAD}(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?month\b|\bmonth[- ]end\b", "month_end"),
    (rf"\b{_LEAD}(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?quarter\b", "quarter_end"),
    (rf"\b{_LEAD}(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?year\b", "year_end"),
    (rf"\b(?:in|within)\s+(?:the\s+next\s+)?{_NUM}\s+(?P<unit>day|week)s?\b", "in_n"),
    (rf"\bnext\s+{_WD}\b", "next_wd"),
    (rf"\b(?:this\s+(?:coming\s+)?|coming\s+){_WD}\b", "this_wd"),
    (rf"\b{_MON}\s+{_DAY}\b(?:,?\s+(?P<year>\d{{4}}))?", "month_day"),
    (rf"\b(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MON}\b(?:,?\s+(?P<year>\d{{4}}))?", "month_day"),
    (rf"\b{_LEAD}{_WD}\b(?!'s)", "wd"),
    (r"\b(?:by|on|before|until)\s+the\s+(?P<day>[12]?\d|3[01])(?:st|nd|rd|th)\b", "dom"),
]
_COMPILED = [(re.compile(p, re.IGNORECASE), kind) for p, kind in PATTERNS]


def _weekday(token: str) -> int:
    token = token.lower()[:3]
    return [w[:3] for w in WEEKDAYS].index(token)


def _month(token: str) -> int:
    token = token.lower()[:3]
    return [m[:3] for m in MONTHS].index(token) + 1


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _resolve(kind: str, m: re.Match, ref: date) -> date | None:
    monday = ref - timedelta(days=ref.weekday())
    if kind == "iso":
        try:
            return date.fromisoformat(m["iso"])
        except ValueError:
            return None
    if kind == "today":
        return ref
    if kind == "tomorrow":
        return ref + timedelta(days=1)
    if kind == "overmorrow":
        return ref + timedelta(days=2)
    if kind == "this_week":
        return max(monday + timedelta(days=4), ref)
    if kind == "next_week":
        return monday + timedelta(days=11)
    if kind == "month_end":
        return _month_end(ref.year, ref.month)
    if kind == "next_month_end":
        year, month = (ref.year + 1, 1) if ref.month == 12 else (ref.year, ref.month + 1)
        return _month_end(year, month)
    if kind == "quarter_end":
        return _month_end(ref.year, ((ref.month - 1) // 3 + 1) * 3)
    if kind == "year_end":
        return date(ref.year, 12, 31)
    if kind == "in_n":
        n = m["n"].lower()
        count = int(n) if n.isdigit() else NUMBERS[n]
        return ref + timedelta(days=count * (7 if m["unit"].lower() == "week" else 1))
    if kind == "next_wd":
        return monday + timedelta(days=7 + _weekday(m["wd"]))
    if kind == "this_wd":
        day = monday + timedelta(days=_weekday(m["wd"]))
        return day if day >= ref else day + timedelta(days=7)
    if kind == "wd":
        ahead = (_weekday(m["wd"]) - ref.weekday()) % 7 or 7
        return ref + timedelta(days=ahead)
    if kind == "month_day":
        year = int(m["year"]) if m["year"] else ref.year
        try:
            day = date(year, _month(m["mon"]), int(m["day"]))
        except ValueError:
            return None
        if not m["year"] and day < ref - timedelta(days=31):
            day = day.replace(year=year + 1)
        return day
    if kind == "dom":
        dom = int(m["day"])
        year, month = ref.year, ref.month
        for _ in range(3):
            if dom <= calendar.monthrange(year, month)[1] and date(year, month, dom) > ref:
                return date(year, month, dom)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def find_due(text: str, ref: date) -> tuple[date | None, tuple[int, int] | None]:
    """The first due date said in ``text`` and where it was said (start, end), or (None, None)."""
    best: tuple[int, date, tuple[int, int]] | None = None
    for pattern, kind in _COMPILED:
        for m in pattern.finditer(text):
            if kind == "wd" and _is_past_reference(text, m.start()):
                continue
            resolved = _resolve(kind, m, ref)
            if resolved is None:
                continue
            if best is None or m.start() < best[0]:
                best = (m.start(), resolved, m.span())
            break
    if best is None:
        return None, None
    return best[1], best[2]


def _is_past_reference(text: str, pos: int) -> bool:
    """ "finished on Tuesday", "last Friday": a weekday that is not a due date."""
    before = text[:pos].lower().rstrip()
    return bool(
        re.search(
            r"\b(last|since|ago|was|were|did|finished|happened|started|sent|met)(\s+on)?$", before
        )
    )


def resolve_due(text: str, ref: date) -> date | None:
    return find_due(text, ref)[0]


def strip_due(text: str, ref: date) -> str:
    """Text without the due-date phrase ("send it by Friday" -> "send it")."""
    _, span = find_due(text, ref)
    if span is None:
        return text
    return (text[: span[0]] + text[span[1] :]).strip()
