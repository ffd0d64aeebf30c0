"""Subtitle cues that players and editors accept: at most two lines of 42 characters and
7 seconds each (the common broadcast and streaming limits), split between words at the
words' own times.

A segment longer than that becomes several cues. Each cue starts when its first word
starts and ends when its last word ends; a segment without word times (or with a
corrected text whose words were re-spread) shares its time among its words by length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qylon_cli.schemas import Meeting, Segment

MAX_CHARS = 42
MAX_LINES = 2
MAX_SECONDS = 7.0


@dataclass
class Cue:
    start: float
    end: float
    speaker: str | None
    lines: list[str]


def _tokens(seg: Segment) -> list[tuple[float, float, str]]:
    """(start, end, word) for each word of the segment, from its word times when they fit its text."""
    words = seg.words if "".join(w.word for w in seg.words).split() == seg.text.split() else []
    spans = [(w.start, w.end, w.word) for w in words] or [(seg.start, seg.end, seg.text)]
    out = []
    for start, end, text in spans:
        parts = text.split()
        total = sum(len(p) + 1 for p in parts) or 1
        at = start
        for part in parts:  # a "word" holding several words shares its time among them
            step = (end - start) * (len(part) + 1) / total
            out.append((at, at + step, part))
            at += step
    return out


def wrap(words: list[str], width: int = MAX_CHARS) -> list[str]:
    lines: list[str] = []
    for long in words:
        pieces = [long[i : i + width] for i in range(0, len(long), width)] or [
            long
        ]  # a word longer than a line
        for word in pieces:
            _place(lines, word, width)
    return lines


def _place(lines: list[str], word: str, width: int) -> None:
    if lines and len(lines[-1]) + 1 + len(word) <= width:
        lines[-1] += " " + word
    else:
        lines.append(word)


def _fits(words: list[str], first: float, last: float, prefix: str) -> bool:
    return (
        len(wrap([prefix + words[0], *words[1:]] if prefix else words)) <= MAX_LINES
        and last - first <= MAX_SECONDS
    )


def cues(meeting: Meeting, *, label_in_text: bool) -> Iterator[Cue]:
    """The meeting's cues; ``label_in_text`` counts a "Name: " prefix in the first line (SRT)."""
    names = {sp.id: sp.name or sp.id for sp in meeting.speakers}
    for seg in meeting.segments:
        who = names.get(seg.speaker, seg.speaker) if seg.speaker else None
        prefix = f"{who}: " if who and label_in_text else ""
        current: list[tuple[float, float, str]] = []
        for token in _tokens(seg):
            trial = current + [token]
            if current and not _fits([t[2] for t in trial], trial[0][0], trial[-1][1], prefix):
                yield _cue(current, who, prefix)
                current = [token]
            else:
                current = trial
        if current:
            yield _cue(current, who, prefix)


def _cue(tokens: list[tuple[float, float, str]], who: str | None, prefix: str) -> Cue:
    words = [t[2].replace("-->", "->") for t in tokens]
    lines = wrap([prefix + words[0], *words[1:]])
    start = round(tokens[0][0], 3)
    end = round(min(max(tokens[-1][1], start + 0.001), start + MAX_SECONDS), 3)
    if prefix:
        lines[0] = lines[0][len(prefix) :]
    return Cue(start, end, who, lines)
