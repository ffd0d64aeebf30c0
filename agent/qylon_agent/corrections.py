"""Corrections a person makes to a stored meeting: its title, client and date, the words
of a segment (one at a time or a whole exported transcript edited and read back), and
its action items (owner, task, due date; an item added by hand).

Each change is one transaction in the store; the store's triggers move the meeting's
``updated_at`` and queue it for the team server in the same transaction. Items corrected
or added here are marked (``action_items.edited``) so that a re-analysis keeps them.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import date, datetime
from pathlib import Path

from qylon_cli.errors import InvalidInput, NotFound

from .insights.dates import resolve_due
from .store.database import Store
from .store.formats import short_clock
from .store.meeting_date import meeting_day

CLEAR = ("", "none", "-")


# -- the meeting -------------------------------------------------------------------------


def edit_meeting(
    store: Store,
    ref: str,
    *,
    title: str | None = None,
    client: str | None = None,
    when: datetime | None = None,
) -> dict:
    """Change a meeting's title, client or date; moving the date re-resolves relative due dates."""
    meeting = store.get_meeting(ref)
    changes: dict = {}
    if title is not None:
        if not title.strip():
            raise InvalidInput("--title cannot be empty.")
        changes["title"] = title.strip()
    if client is not None:
        changes["client"] = None if client.strip().lower() in CLEAR else client.strip()
    moved: list[dict] = []
    with store.db.atomic():
        if when is not None:
            changes |= {"created_at": when.isoformat(), "date_source": "given"}
            moved = _move_dues(store, meeting, meeting_day(meeting.created_at), meeting_day(when))
        if changes:
            store.db["meetings"].update(meeting.id, changes)
    return {"id": meeting.id, "changed": sorted(changes), "due_dates_moved": moved}


def _move_dues(store: Store, meeting, old_day: date, new_day: date) -> list[dict]:
    """Due dates that came from a phrase in the item's quote ("by Friday") count from the new day."""
    moved = []
    for item in meeting.action_items:
        if not item.due or not item.quote:
            continue
        if resolve_due(item.quote, old_day) != item.due:
            continue  # not derived from the quote (given by hand, or an explicit date elsewhere)
        new_due = resolve_due(item.quote, new_day)
        if new_due and new_due != item.due:
            store.db["action_items"].update(item.id, {"due": new_due.isoformat()})
            moved.append(
                {
                    "id": item.id,
                    "task": item.task,
                    "from": item.due.isoformat(),
                    "to": new_due.isoformat(),
                }
            )
    return moved


# -- the transcript ----------------------------------------------------------------------


def _retime(words: list[dict], text: str, start: float, end: float) -> list[dict]:
    """Words for corrected text: the old times when the count is the same, else spread over the segment."""
    tokens = text.split()
    if len(tokens) == len(words):
        return [
            {
                **w,
                "word": " " + t,
                "probability": w.get("probability") if w["word"].strip() == t else None,
            }
            for w, t in zip(words, tokens)
        ]
    total = sum(len(t) + 1 for t in tokens) or 1
    out, at = [], start
    for t in tokens:
        step = (end - start) * (len(t) + 1) / total
        out.append(
            {
                "start": round(at, 3),
                "end": round(at + step, 3),
                "word": " " + t,
                "probability": None,
            }
        )
        at += step
    return out


def fix_segments(store: Store, ref: str, fixes: dict[int, str]) -> dict:
    """Replace the text of segments by number (1 = the first, as `export --format txt` lists them)."""
    meeting_id = store.resolve_id(ref)
    rows = list(store.db["segments"].rows_where("meeting_id = ?", [meeting_id], order_by="idx"))
    changed = []
    with store.db.atomic():
        for number, text in sorted(fixes.items()):
            if not 1 <= number <= len(rows):
                raise NotFound(
                    f"Meeting {meeting_id[:8]} has no segment {number} (it has {len(rows)}).",
                    hint="`qylon meeting show ID` numbers the segments.",
                )
            text = " ".join(text.split())
            if not text:
                raise InvalidInput(
                    f"Segment {number}: the new text is empty.",
                    hint="Give the words the segment should say.",
                )
            row = rows[number - 1]
            if text == row["text"]:
                continue
            words = _retime(json.loads(row["words"] or "[]"), text, row["start"], row["end"])
            store.db["segments"].update(row["id"], {"text": text, "words": json.dumps(words)})
            changed.append(
                {"segment": number, "start": row["start"], "from": row["text"], "to": text}
            )
    return {"id": meeting_id, "fixed": changed}


_LINE = re.compile(r"^\[(?:\d+:)?\d{2}:\d{2}\] (.*)$")


def read_transcript(store: Store, ref: str, path: Path) -> dict[int, str]:
    """Segment texts from an edited `export --format txt` file: one line per segment, in order."""
    meeting = store.get_meeting(ref)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc}).", code="invalid_file") from None
    if len(lines) != len(meeting.segments):
        raise InvalidInput(
            f"{path}: {len(lines)} lines, but meeting {meeting.id[:8]} has {len(meeting.segments)} segments.",
            hint="Edit the words only: keep one line per segment, as `qylon meeting export ID -f txt` wrote it.",
        )
    names = {sp.id: sp.name or sp.id for sp in meeting.speakers}
    texts = {}
    for number, (line, seg) in enumerate(zip(lines, meeting.segments), 1):
        m = _LINE.match(line)
        if not m:
            raise InvalidInput(
                f"{path}, line {number}: does not start with a time like [{short_clock(seg.start)}].",
                hint="Keep each line's time and speaker as exported; change only the words.",
            )
        body, who = m[1], names.get(seg.speaker, seg.speaker) if seg.speaker else None
        if who and body.startswith(f"{who}: "):
            body = body[len(who) + 2 :]
        texts[number] = body
    return texts


# -- action items ------------------------------------------------------------------------


def parse_due(value: str | None, meeting) -> date | None | str:
    """``--due``: a date (2026-11-27), a phrase counted from the meeting's day ("Friday",
    "next week"), or none to clear it. Returns "keep" when not given."""
    if value is None:
        return "keep"
    if value.strip().lower() in CLEAR:
        return None
    day = meeting_day(meeting.created_at)
    found = resolve_due(value, day) or resolve_due(f"by {value}", day)
    if found is None:
        raise InvalidInput(
            f"--due {value!r} is not a date.",
            hint="Give 2026-11-27, or a phrase such as Friday or next week.",
        )
    return found


def add_item(store: Store, ref: str, *, task: str, owner: str | None, due: str | None) -> dict:
    meeting = store.get_meeting(ref)
    if not task.strip():
        raise InvalidInput(
            "The task is empty.",
            hint='Say what is to be done: qylon meeting actions add ID "Send the quote"',
        )
    when = parse_due(due, meeting)
    item_id = secrets.token_hex(6)
    store.db["action_items"].insert(
        {
            "id": item_id,
            "meeting_id": meeting.id,
            "owner": (owner or "").strip() or None,
            "task": task.strip(),
            "due": when.isoformat() if isinstance(when, date) else None,
            "status": "open",
            "quote": None,
            "start": None,
            "updated_at": None,
            "edited": "added",
        }
    )
    return item_row(store, item_id)


def edit_item(
    store: Store, ref: str, *, task: str | None, owner: str | None, due: str | None
) -> dict:
    item_id = store.resolve_item_id(ref)
    meeting = store.get_meeting(store.db["action_items"].get(item_id)["meeting_id"])
    changes: dict = {}
    if task is not None:
        if not task.strip():
            raise InvalidInput("--task cannot be empty.")
        changes["task"] = task.strip()
    if owner is not None:
        changes["owner"] = None if owner.strip().lower() in CLEAR else owner.strip()
    when = parse_due(due, meeting)
    if when != "keep":
        changes["due"] = when.isoformat() if when else None
    if not changes:
        raise InvalidInput("Nothing to change.", hint="Give --task, --owner or --due.")
    row = store.db["action_items"].get(item_id)
    changes["edited"] = row["edited"] or "edited"
    store.db["action_items"].update(item_id, changes)
    return item_row(store, item_id)


def item_row(store: Store, item_id: str) -> dict:
    return next(r for r in store.action_items() if r["id"] == item_id)
