"""`qylon meeting import FILE`: a transcript from another tool (Teams, Zoom, Meet, SRT, text) or a Qylon JSON export.

Attached to the `meeting` group by ``register(app)``; the parsing lives in ``transcript_files``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output

from .insights import ExtractorOption, FallbackOption, chosen, record_extractor
from .params import client_option


def _when(value: str | None) -> datetime | None:
    from qylon_cli.errors import InvalidInput

    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"--date {value!r} is not a date like 2026-11-25 (or 2026-11-25T14:00)."
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _since(value: str) -> datetime:
    """``7d``, ``12h``, ``2w`` ago, or a date (2026-11-01)."""
    import re
    from datetime import timedelta

    from qylon_cli.errors import InvalidInput

    found = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", value)
    if found:
        n, unit = int(found[1]), found[2]
        delta = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
        return datetime.now(UTC).replace(microsecond=0) - delta
    when = _when(value)
    if when is None:
        raise InvalidInput(f"--since {value!r} is not a span like 7d or a date like 2026-11-01.")
    return when


def import_(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A .vtt (Teams, Zoom, Meet), .srt, Qylon .json export or 'Speaker: text' .txt file.",
            show_default=False,
        ),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Import the cloud recordings of a video platform instead of a file: zoom, teams or meet.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str,
        typer.Option(help="With --from: recordings since then, a span (7d, 12h, 2w) or a date."),
    ] = "7d",
    title: Annotated[
        str | None,
        typer.Option(help="Meeting title (default: the file name, or the export's title)."),
    ] = None,
    client: Annotated[str | None, client_option("The client this meeting was with.")] = None,
    on: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="When the meeting took place, YYYY-MM-DD[THH:MM] (default: the export's date, else the file's modification time).",
        ),
    ] = None,
    extractor: ExtractorOption = None,
    fallback: FallbackOption = None,
    json: output.JsonOption = False,
) -> None:
    """Import a transcript made by another tool and store it as a meeting: searchable, exportable, with action items.

    Speakers keep their names (WebVTT voice tags such as <v Dana Lee>, or 'Dana Lee: text').
    A file that does not parse exits 3 naming the line at fault, and nothing is stored.
    A file imported before (the same bytes) is not stored twice: the command shows the
    meeting it became (change its title, client or date with `qylon meeting edit`).

    With --from zoom, teams or meet: the cloud recordings of Zoom, Microsoft Teams or Google
    Meet since --since, each with its title, start time and participants; the platform's own
    transcript when the recording has one, else its audio or video, downloaded (resumably: an
    interrupted download goes on at the next run) and transcribed. A recording imported
    before is skipped.

    Example: qylon meeting import "Weekly sync.vtt" --client Acme --date 2026-11-25

    Example: qylon meeting import --from zoom --since 14d --json

    Example: qylon meeting import --from teams
    """
    if from_:
        return _import_recordings(from_, since, extractor, fallback)
    if file is None:
        from qylon_cli.errors import UsageError

        raise UsageError("Name a transcript file, or --from zoom|teams|meet.")
    from qylon_cli import settings as settings_mod

    from .. import insights, pipeline
    from ..store import transcript_files
    from ..store.database import Store
    from . import render

    meeting = transcript_files.to_meeting(file, title=title, client=client, when=_when(on))
    store = Store()
    digest = _digest(file)
    known = store.video_import("file", digest)
    if known is not None:
        meeting = store.get_meeting(known["meeting_id"])
        output.warn(
            f"{file} was imported before, as meeting {meeting.id[:8]} ({meeting.title!r}); "
            f"nothing stored. Change its title, client or date with: "
            f"qylon meeting edit {meeting.id[:8]}"
        )
        output.emit(render.meeting_summary(meeting), lambda c: render.transcript(c, meeting))
        return
    settings = settings_mod.load()
    name, fall = chosen(extractor, fallback)
    try:
        meeting = pipeline.analyze(
            meeting,
            extractor=name,
            fallback=fall,
            settings=settings,
            on_warning=(warned := []).append,
            previous=meeting.action_items,
        )
    except insights.InsightsFailed as failed:  # keep the transcript; `meeting analyze` later
        store.save_meeting(failed.meeting)
        store.set_video_import("file", digest, failed.meeting.id, [])
        raise failed.reported() from None
    store.save_meeting(meeting)
    store.set_video_import("file", digest, meeting.id, [])
    record_extractor(store, meeting.id, extractor, settings, warned, fell_back=bool(warned))
    output.emit(render.meeting_summary(meeting), lambda c: render.transcript(c, meeting))


def _digest(file: Path) -> str:
    """The file's SHA-256: a transcript file's identity in ``video_imports`` (provider
    ``file``), so that importing the same bytes again finds the meeting they became."""
    import hashlib

    with file.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _import_recordings(name: str, since: str, extractor, fallback) -> None:
    from qylon_cli import settings as settings_mod
    from qylon_cli.progress import PlainLines

    from .. import video_import
    from ..store.database import Store

    ext, fall = chosen(extractor, fallback)
    warned: list[str] = []
    lines: dict[str, PlainLines] = {}  # "Downloading TITLE: 40%" lines on stderr

    def progress(label: str, done: float, total: float) -> None:
        lines.setdefault(label, PlainLines(label)).update(done, total)

    store = Store()
    try:
        rows = video_import.import_recordings(
            store,
            name,
            since=_since(since),
            settings=settings_mod.load(),
            extractor=ext,
            fallback=fall,
            on_warning=warned.append,
            on_progress=progress,
        )
    finally:
        for message in warned:
            output.warn(message)
    for row in rows:
        row["started_at"] = row["started_at"].isoformat() if row["started_at"] else None

    def human(console) -> None:
        from rich.table import Table

        table = Table("Outcome", "Title", "Started", "Min", "Participants", "Via", "Meeting")
        for r in rows:
            table.add_row(
                r["outcome"],
                r["title"] or "",
                (r["started_at"] or "")[:16].replace("T", " "),
                f"{(r['duration_s'] or 0) / 60:.0f}",
                ", ".join(r["participants"]),
                r["via"] or "",
                (r["meeting_id"] or "")[:8],
            )
        console.print(table)

    output.emit_list(rows, lambda console, _items: human(console))


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
