"""Transcripts people already have: WebVTT (Teams, Zoom, Google Meet), SRT, Qylon's JSON export, plain text.

``read(path)`` returns the turns with their speakers' names, whatever the format:

- WebVTT (W3C): the ``WEBVTT`` header (a BOM before it is fine), NOTE/STYLE/REGION blocks
  skipped, cue identifiers optional, cue settings after the timing ignored, multi-line
  cues joined. The speaker comes from a voice tag (``<v Dana Lee>…</v>``, as Teams
  writes it; ``<v.loud Dana>`` too; several voices in one cue become several turns) or
  from a ``Name: text`` cue (as Zoom writes it); other tags (``<c>``, ``<i>``, inline
  timestamps) are dropped and entities (``&amp;``) decoded.
- SRT: numbered cues, ``00:00:01,000 --> 00:00:04,000``, the speaker as ``Name: text``.
- Qylon's JSON export (``qylon meeting export -f json``): the meeting as it was, speakers' names included.
- Plain text: ``Speaker: text`` lines, optionally led by a time (``[03:41]``, ``00:03:41``);
  a line without a speaker continues the turn before it. Without times, each turn is
  given 0.4 s a word, in order.

A file that does not parse raises ``InvalidInput`` naming the file and the line at
fault (for JSON, the field), before anything is stored. Written by hand rather than with
webvtt-py or srt: their errors do not say which line is wrong, and neither reads voice
tags into speakers the way Teams uses them.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from qylon_cli.errors import InvalidInput
from qylon_cli.schemas import Meeting, Segment, Speaker

FORMATS = ("vtt", "srt", "json", "txt")
SECONDS_PER_WORD = 0.4
TIME = r"(?:(\d+):)?([0-5]\d):([0-5]\d)[.,](\d{3})"
TIMING = re.compile(rf"^{TIME}[ \t]+-->[ \t]+{TIME}(?:[ \t]+(?P<settings>.*))?$")
VOICE = re.compile(r"<v(?:\.[\w.-]+)?[ \t]+([^>]+)>", re.IGNORECASE)
TAG = re.compile(r"</?[a-z][^>]*>|<\d[\d:.]*>", re.IGNORECASE)
SPEAKER_PREFIX = re.compile(
    r"^(?P<name>[^\W\d][\w.'’-]*(?:[ \t]+[\w.'’()-]+){0,4})[ \t]*:[ \t]+(?P<text>\S.*)$"
)
PLAIN_TIME = re.compile(r"^\[?(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,]\d+)?\]?[ \t]+")


@dataclass
class Transcript:
    """What a file holds: turns (start, end, speaker name or None, text), or a whole exported meeting."""

    format: str
    turns: list[tuple[float, float, str | None, str]] = field(default_factory=list)
    meeting: Meeting | None = None


class TranscriptError(InvalidInput):
    code = "invalid_transcript"


def _fail(path: Path, line: int | None, problem: str) -> TranscriptError:
    where = f"{path}:{line}" if line else str(path)
    return TranscriptError(
        f"{where}: {problem}",
        hint="Nothing was stored. Fix that line, or export the transcript again from its tool.",
    )


def read(path: Path) -> Transcript:
    """Parse a transcript file; the format from its content (the extension only breaks a tie)."""
    if not path.is_file():
        raise InvalidInput(
            f"{path}: no such file.",
            hint="Give the path of a .vtt, .srt, .json or .txt transcript.",
        )
    raw = path.read_bytes()
    try:
        text = (
            raw.decode("utf-16")
            if raw[:2] in (b"\xff\xfe", b"\xfe\xff")
            else raw.decode("utf-8-sig")
        )
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(path, line, "not UTF-8 text (a transcript is a text file)") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first = next((ln.strip() for ln in text.split("\n") if ln.strip()), "")
    if not first:
        raise _fail(path, None, "the file is empty")
    if first.startswith("{"):
        return _json(path, text)
    if first.startswith("WEBVTT") or path.suffix.lower() == ".vtt":
        return _vtt(path, text)
    lines = text.split("\n")
    if (
        re.fullmatch(r"\d+", first)
        or path.suffix.lower() == ".srt"
        or any("-->" in ln for ln in lines[:5])
    ):
        return _srt(path, text)
    return _plain(path, text)


def _seconds(groups) -> float:
    h, m, s, ms = groups
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _blocks(text: str):
    """(first line number, lines) for each run of non-blank lines."""
    block: list[str] = []
    start = 0
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _timing(path: Path, number: int, line: str) -> tuple[float, float]:
    m = TIMING.match(line.strip())
    if not m:
        raise _fail(
            path,
            number,
            f"expected a cue timing like '00:01:02.500 --> 00:01:05.000', found {line.strip()[:60]!r}",
        )
    groups = m.groups()
    start, end = _seconds(groups[0:4]), _seconds(groups[4:8])
    if end < start:
        raise _fail(path, number, "the cue ends before it starts")
    return start, end


def _vtt(path: Path, text: str) -> Transcript:
    blocks = list(_blocks(text))
    if not blocks or not re.match(r"^WEBVTT(?:[ \t].*)?$", blocks[0][1][0].strip()):
        raise _fail(path, blocks[0][0] if blocks else 1, "a WebVTT file starts with 'WEBVTT'")
    turns: list[tuple[float, float, str | None, str]] = []
    for number, lines in blocks[1:]:
        if re.match(r"^(NOTE|STYLE|REGION)\b", lines[0]):
            continue
        at = 0 if "-->" in lines[0] else 1
        if at >= len(lines) or "-->" not in lines[at]:
            raise _fail(
                path,
                number + at,
                f"expected a cue timing after the cue identifier {lines[0].strip()[:40]!r}",
            )
        start, end = _timing(path, number + at, lines[at])
        turns += _cue_turns(start, end, " ".join(ln.strip() for ln in lines[at + 1 :]))
    return Transcript("vtt", turns)


def _cue_turns(
    start: float, end: float, payload: str
) -> list[tuple[float, float, str | None, str]]:
    """One cue's turns: one per voice tag (times shared out by length), else one, with a 'Name:' speaker if given."""
    voices = list(VOICE.finditer(payload))
    if not voices:
        return [t for t in [_turn(start, end, None, payload)] if t]
    pieces = [
        (
            m.group(1).strip(),
            payload[m.end() : voices[i + 1].start() if i + 1 < len(voices) else len(payload)],
        )
        for i, m in enumerate(voices)
    ]
    lead = payload[: voices[0].start()]
    if _clean(lead):
        pieces.insert(0, (None, lead))
    total = sum(len(_clean(p)) for _, p in pieces) or 1
    out, at = [], start
    for who, piece in pieces:
        span = (end - start) * len(_clean(piece)) / total
        turn = _turn(at, at + span, who, piece, prefix=False)
        at += span
        if turn:
            out.append(turn)
    return out


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(TAG.sub("", text))).strip()


def _turn(start: float, end: float, who: str | None, text: str, *, prefix: bool = True):
    body = _clean(text)
    if prefix and who is None:
        m = SPEAKER_PREFIX.match(body)
        if m:
            who, body = m["name"].strip(), m["text"].strip()
    if not body:
        return None
    return round(start, 3), round(end, 3), (who or None), body


def _srt(path: Path, text: str) -> Transcript:
    turns = []
    for number, lines in _blocks(text):
        at = 1 if re.fullmatch(r"\s*\d+\s*", lines[0]) else 0
        if at >= len(lines):
            raise _fail(path, number, f"cue {lines[0].strip()} has no timing line")
        start, end = _timing(path, number + at, lines[at])
        turn = _turn(start, end, None, " ".join(ln.strip() for ln in lines[at + 1 :]))
        if turn:
            turns.append(turn)
    return Transcript("srt", turns)


def _plain(path: Path, text: str) -> Transcript:
    rows: list[list] = []  # [start or None, speaker, text]
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        stamp = PLAIN_TIME.match(line)
        start = None
        if stamp:
            h, m, s = stamp.groups()
            start, line = int(h or 0) * 3600 + int(m) * 60 + int(s), line[stamp.end() :]
        said = SPEAKER_PREFIX.match(line)
        if said:
            rows.append([start, said["name"].strip(), said["text"].strip()])
        elif rows:
            rows[-1][2] += " " + line
        else:
            raise _fail(path, number, f"expected 'Speaker: text', found {line[:60]!r}")
    turns, clock = [], 0.0
    for i, (start, who, said) in enumerate(rows):
        begin = float(start) if start is not None else clock
        length = max(1.0, len(said.split()) * SECONDS_PER_WORD)
        nxt = rows[i + 1][0] if i + 1 < len(rows) and rows[i + 1][0] is not None else None
        end = float(nxt) if nxt is not None and nxt > begin else begin + length
        turns.append((round(begin, 3), round(end, 3), who, said))
        clock = end + 0.5
    return Transcript("txt", turns)


def _json(path: Path, text: str) -> Transcript:
    from pydantic import ValidationError

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(path, exc.lineno, f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or "segments" not in data:
        raise _fail(
            path,
            None,
            "not a Qylon meeting export (no 'segments'); `qylon meeting export ID -f json` writes one",
        )
    try:
        meeting = Meeting.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise _fail(path, None, f"field {where}: {err['msg']}") from None
    return Transcript("json", meeting=meeting)


LABEL = re.compile(r"^SPEAKER_\d+$")


def speakers_and_segments(turns) -> tuple[list[Speaker], list[Segment]]:
    """Label each distinct name SPEAKER_n in order of first appearance, keeping the name; a bare label
    ('SPEAKER_3', as Qylon exports an unnamed speaker) stays that speaker, unnamed."""
    used = {who for _, _, who, _ in turns if who and LABEL.match(who)}
    labels: dict[str, str] = {}
    talk: dict[str, float] = {}
    segments = []
    for start, end, who, text in turns:
        label = None
        if who:
            if who not in labels:
                n = len(labels) + 1
                while not LABEL.match(who) and f"SPEAKER_{n}" in used:
                    n += 1
                labels[who] = who if LABEL.match(who) else f"SPEAKER_{n}"
                used.add(labels[who])
            label = labels[who]
            talk[label] = talk.get(label, 0.0) + (end - start)
        segments.append(Segment(start=start, end=end, speaker=label, text=text))
    speakers = [
        Speaker(
            id=label,
            name=None if LABEL.match(name) else name,
            talk_time_s=round(talk.get(label, 0.0), 3),
        )
        for name, label in labels.items()
    ]
    return speakers, segments


def to_meeting(
    path: Path, *, title: str | None = None, client: str | None = None, when: datetime | None = None
) -> Meeting:
    """A new meeting from a transcript file: a JSON export keeps what it says (under a new id), other
    formats take the file's name as the title and, without ``when``, its modification time as the date."""
    parsed = read(path)
    if parsed.meeting is not None:
        changes = {"id": str(uuid.uuid4()), "source": str(path.resolve())}
        changes.update(
            {
                k: v
                for k, v in (("title", title), ("client", client), ("created_at", when))
                if v is not None
            }
        )
        return parsed.meeting.model_copy(update=changes)
    if not parsed.turns:
        raise _fail(path, None, "no cue with any text in it")
    speakers, segments = speakers_and_segments(parsed.turns)
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0)
    return Meeting(
        id=str(uuid.uuid4()),
        title=title or path.stem.replace("_", " ").replace("-", " ").strip() or "Meeting",
        client=client,
        source=str(path.resolve()),
        created_at=when or modified,
        duration_s=max(seg.end for seg in segments),
        model=f"imported {parsed.format}",
        speakers=speakers,
        segments=segments,
    )
