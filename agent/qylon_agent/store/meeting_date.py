"""When a meeting took place: a date given by the user, else the recording's own date.

The order, and the ``date_source`` stored with the meeting:

- ``given``: ``--date``/``--time`` on the command line (local time);
- ``recorder``: the start time Qylon's own recorder wrote in its manifest;
- ``recording``: a date tag in the file (MP4/M4A ``creation_time``, Matroska/WebM
  ``DATE_RECORDED``, ID3/Vorbis/FLAC ``date``, WAV ``bext`` origination date, INFO ``ICRD``);
- ``file_time``: the file's modification time less its duration (a recorder writes the
  file until the meeting ends), so an old file never gets today's date;
- ``now``: only for audio with no file behind it.

A tag holding a date without a time (or only a year, which says too little) counts
from noon local time, so the day stays the same in any time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from qylon_cli.errors import InvalidInput

SOURCES = ("given", "recorder", "recording", "file_time", "now")
# Tags, in the order they are trusted; compared case-insensitively.
DATE_TAGS = ("creation_time", "date_recorded", "origination_date", "date", "icrd", "tdrc", "tdor")
DESCRIBED = {
    "given": "given on the command line",
    "recorder": "the recorder's start time",
    "recording": "the recording's own date",
    "file_time": "the file's modification time",
    "now": "when it was transcribed",
}


def local_zone():
    return datetime.now().astimezone().tzinfo


def parse_given(
    day: str | None, clock: str | None, *, default: datetime | None = None
) -> datetime | None:
    """``--date YYYY-MM-DD`` and ``--time HH:MM`` (local time) as an aware datetime; None if neither.

    A time alone keeps ``default``'s day; a date alone keeps ``default``'s time of day (noon without one)."""
    if not day and not clock:
        return None
    base = (default or datetime.now(UTC)).astimezone(local_zone())
    try:
        on = date.fromisoformat(day) if day else base.date()
    except ValueError:
        raise InvalidInput(
            f"--date {day!r} is not a date like 2026-11-25.", code="invalid_date"
        ) from None
    if clock:
        m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", clock.strip())
        if not m:
            raise InvalidInput(f"--time {clock!r} is not a time like 14:30.", code="invalid_date")
        at = time(int(m[1]), int(m[2]))
    else:
        at = base.time().replace(microsecond=0) if default else time(12, 0)
    return datetime.combine(on, at, tzinfo=local_zone()).astimezone(UTC)


def _parse_tag(value: str) -> datetime | None:
    value = value.strip().replace("/", "-")
    if not re.match(r"^\d{4}-\d{2}-\d{2}", value):
        return None  # a year alone, or something else: too vague for a meeting's date
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1) if len(value) > 10 else value)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value[:10]), time(12, 0))
        except ValueError:
            return None
    if len(value) == 10:
        parsed = datetime.combine(parsed.date(), time(12, 0))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=local_zone())
    if parsed.year < 1990 or parsed.astimezone(UTC) > datetime.now(UTC) + timedelta(days=1):
        return None  # a camera's reset clock or a wrong tag
    return parsed.astimezone(UTC)


def from_tags(path: Path) -> datetime | None:
    """The date the file's container says it was recorded, if any."""
    import av

    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            tags = {k.lower(): v for k, v in container.metadata.items()}
            for stream in container.streams.audio[:1]:
                tags.update(
                    {k.lower(): v for k, v in stream.metadata.items() if k.lower() not in tags}
                )
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        return None
    if tags.get("origination_date") and tags.get("origination_time"):
        tags["origination_date"] = (
            f"{tags['origination_date']}T{tags['origination_time'].replace('-', ':')}"
        )
    for key in DATE_TAGS:
        if tags.get(key) and (found := _parse_tag(tags[key])):
            return found
    return None


def of_file(path: Path | None, duration_s: float = 0.0) -> tuple[datetime, str]:
    """(when the recording started, where that came from) for a file with no date given."""
    if path is not None and path.exists():
        tagged = from_tags(path)
        if tagged is not None:
            return tagged.replace(microsecond=0), "recording"
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC) - timedelta(seconds=duration_s)
        return modified.replace(microsecond=0), "file_time"
    return datetime.now(UTC).replace(microsecond=0), "now"


def meeting_day(when: datetime) -> date:
    """The calendar day of a meeting where it took place (this machine's time zone)."""
    return when.astimezone(local_zone()).date() if when.tzinfo else when.date()
