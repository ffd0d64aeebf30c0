"""How meetings look in a terminal (Rich). JSON output comes from the shared schemas."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from ..store.database import MARK_END, MARK_START
from ..store.formats import short_clock
from ..store.meeting_date import DESCRIBED, local_zone

if TYPE_CHECKING:
    from qylon_cli.schemas import Meeting


def meeting_summary(meeting: Meeting) -> dict:
    """The JSON form of a meeting, as the contract in the README shows it."""
    return meeting.model_dump(mode="json")


def heard(found: dict) -> dict:
    """Warn about speech that gave no words; the JSON keys ``warnings`` and ``recovered``."""
    from qylon_cli import output

    warnings = []
    for gap in found.get("recovered", []):
        output.info(
            f"Transcribed again on its own: speech at {short_clock(gap['start'])}-{short_clock(gap['end'])} "
            f"({gap['start']:.1f}-{gap['end']:.1f} s) had no words in the first pass."
        )
    for gap in found.get("unheard", []):
        message = (
            f"Speech at {gap['start']:.1f}-{gap['end']:.1f} s gave no words, even transcribed again on its own: "
            "listen to it in the recording."
        )
        output.warn(message)
        warnings.append(
            {"code": "unheard_speech", "start": gap["start"], "end": gap["end"], "message": message}
        )
    return {"warnings": warnings, "recovered": found.get("recovered", [])}


def transcript(console, meeting: Meeting) -> None:
    names = {sp.id: sp.name or sp.id for sp in meeting.speakers}
    head = f"[bold]{escape(meeting.title)}[/]"
    if meeting.client:
        head += f"  [dim]client:[/] {escape(meeting.client)}"
    head += f"  [dim]{short_clock(meeting.duration_s)} · {meeting.language or '?'} · {meeting.model or '?'} · id {meeting.id[:8]}[/]"
    console.print(head)
    when = meeting.created_at.astimezone(local_zone())
    source = f" ({DESCRIBED[meeting.date_source]})" if meeting.date_source in DESCRIBED else ""
    console.print(f"[dim]date:[/] {when:%Y-%m-%d %H:%M}{escape(source)}")
    table = Table(show_header=True, box=None, pad_edge=False)
    table.add_column("#", style="dim", justify="right", no_wrap=True)
    table.add_column("time", style="cyan", no_wrap=True)
    if any(seg.speaker for seg in meeting.segments):
        table.add_column("speaker", style="magenta", no_wrap=True)
    table.add_column("text")
    for number, seg in enumerate(meeting.segments, 1):
        row = [str(number), f"{short_clock(seg.start)}"]
        if len(table.columns) == 4:
            row.append(escape(names.get(seg.speaker, seg.speaker or "")))
        row.append(escape(seg.text))
        table.add_row(*row)
    console.print(table)
    if meeting.action_items:
        console.print("\n[bold]Action items[/]")
        for item in meeting.action_items:
            owner = f"[magenta]{escape(item.owner)}[/]: " if item.owner else ""
            due = f" [dim](due {item.due})[/]" if item.due else ""
            console.print(f"  • {owner}{escape(item.task)}{due}")


def meeting_list(console, rows: list[dict]) -> None:
    if not rows:
        console.print("No meetings yet. Try: qylon meeting transcribe FILE")
        return
    table = Table("id", "date", "title", "client", "length", "segments", box=None)
    for row in rows:
        table.add_row(
            row["id"][:8],
            f"{datetime.fromisoformat(row['created_at']).astimezone(local_zone()):%Y-%m-%d %H:%M}",
            escape(row["title"] or ""),
            escape(row["client"] or ""),
            short_clock(row["duration_s"] or 0),
            str(row["segments"]),
        )
    console.print(table)


def search_hits(console, hits: list[dict]) -> None:
    if not hits:
        console.print("No matches.")
        return
    for hit in hits:
        snippet = (
            escape(hit["snippet"]).replace(MARK_START, "[bold yellow]").replace(MARK_END, "[/]")
        )
        console.print(
            f"[cyan]{hit['meeting_id'][:8]}[/] [dim]{escape(hit['title'] or '')} @ {short_clock(hit['start'])}[/]"
            + (
                f" [magenta]{escape(hit.get('speaker_name') or hit['speaker'])}[/]"
                if hit.get("speaker")
                else ""
            )
        )
        console.print(f"    {snippet}")
