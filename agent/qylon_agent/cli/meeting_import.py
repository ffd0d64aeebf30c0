"""`qylon meeting import FILE`: a transcript from another tool (Teams, Zoom, Meet, SRT, text) or a Qylon JSON export.

Attached to the `meeting` group by ``register(app)``; the parsing lives in ``transcript_files``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output

from .insights import ExtractorOption, FallbackOption, chosen, record_extractor, store_despite
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


def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .vtt (Teams, Zoom, Meet), .srt, Qylon .json export or 'Speaker: text' .txt file.",
            show_default=False,
        ),
    ],
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

    Example: qylon meeting import "Weekly sync.vtt" --client Acme --date 2026-11-25
    """
    from qylon_cli import settings as settings_mod

    from .. import insights, pipeline
    from ..store import transcript_files
    from ..store.database import Store
    from . import render

    meeting = transcript_files.to_meeting(file, title=title, client=client, when=_when(on))
    settings = settings_mod.load()
    name, fall = chosen(extractor, fallback)
    store = Store()
    try:
        meeting = pipeline.analyze(
            meeting,
            extractor=name,
            fallback=fall,
            settings=settings,
            on_warning=(warned := []).append,
            previous=meeting.action_items,
        )
    except insights.InsightsFailed as failed:
        store_despite(store, failed, audio=False)
    store.save_meeting(meeting)
    record_extractor(store, meeting.id, extractor, settings, warned, fell_back=bool(warned))
    output.emit(render.meeting_summary(meeting), lambda c: render.transcript(c, meeting))


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
