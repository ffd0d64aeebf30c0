"""`qylon meeting analyze | summary | actions ...`: meeting insights and working the action items.

Attached to the `meeting` group by ``register(app)``; heavy imports stay inside commands.
"""

from __future__ import annotations

import functools
from enum import Enum
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from qylon_cli import output

from .params import IdArg, ItemArg


class Extractor(str, Enum):
    offline = "offline"
    llm = "llm"


class Fallback(str, Enum):
    offline = "offline"
    none = "none"


ExtractorOption = Annotated[
    Extractor | None,
    typer.Option(
        help="Find action items with: offline (rules) or llm (the llm.* settings). Default: llm when a model is "
        "configured, the offline extractor (with a warning) when it fails. An explicit llm that cannot run "
        "fails: exit 6 unreachable, 3 misconfigured, 4 key refused."
    ),
]
FallbackOption = Annotated[
    Fallback | None,
    typer.Option(
        help="When the model cannot run: offline = warn and use the offline extractor (the default without "
        "--extractor), none = fail (the default with --extractor llm)."
    ),
]


def chosen(extractor, fallback) -> tuple[str | None, str | None]:
    """The option values as the library takes them."""
    return (extractor.value if extractor else None), (fallback.value if fallback else None)


def _store():
    from ..store.database import Store

    return Store()


def store_despite(store, failed) -> None:
    """The model asked for could not run: keep the transcript (no insights), then fail with the model's exit code."""
    store.save_meeting(failed.meeting, audio_path=failed.meeting.source)
    raise failed.reported() from None


def record_extractor(
    store, meeting_id: str, extractor, settings, warnings: list[str], *, fell_back: bool
) -> None:
    """After `transcribe`: say which extractor ran (the offline one when the model failed) and show the warnings."""
    from .. import insights

    for message in warnings:
        output.warn(message)
    used = (
        "offline"
        if fell_back
        else insights.choose(extractor.value if extractor else None, settings)
    )
    store.set_extractor(meeting_id, used)


class ActionsGroup(TyperGroup):
    """`actions ID ...` lists that meeting's items: a word that names no subcommand is taken as
    a meeting id for `list` (Click's documented ``get_command`` hook, no parsing of our own)."""

    def get_command(self, ctx, cmd_name):
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name.startswith("-"):
            return found
        listing = self.commands["list"]
        return click.Command(
            cmd_name,
            params=[p for p in listing.params if p.name != "meeting_id"],
            callback=functools.partial(listing.callback, meeting_id=cmd_name),
            help=listing.help,
        )


actions = typer.Typer(
    cls=ActionsGroup,
    invoke_without_command=True,
    help="Work through action items: list them, mark them done or open again, add or correct them.\n\n"
    "`qylon meeting actions [ID] [--owner NAME] [--open]` is short for `qylon meeting actions list ...`.\n\n"
    "Example: qylon meeting actions --owner Bob --open",
)

OwnerOption = Annotated[
    str | None, typer.Option(help="Only items owned by this person (case-insensitive).")
]
OpenOption = Annotated[bool, typer.Option("--open", help="Only items not done yet.")]


@actions.callback()
def actions_default(
    ctx: typer.Context,
    owner: OwnerOption = None,
    open_: OpenOption = False,
    json: output.JsonOption = False,
) -> None:
    """`actions [--owner NAME] [--open]` with no subcommand lists (`actions ID ...`: see ActionsGroup)."""
    if ctx.invoked_subcommand is None:
        list_items(None, owner=owner, open_=open_, json=json)


@actions.command("list")
def list_items(
    meeting_id: Annotated[
        str | None,
        typer.Argument(help="Only this meeting's items (an id or prefix).", show_default=False),
    ] = None,
    owner: OwnerOption = None,
    open_: OpenOption = False,
    json: output.JsonOption = False,
) -> None:
    """List action items across meetings with owner, due date, status and the quote they came from.

    Example: qylon meeting actions 3f2a --open
    """
    store = _store()
    mid = store.resolve_id(meeting_id) if meeting_id else None
    rows = store.action_items(meeting_id=mid, owner=owner, open_only=open_)
    output.emit_list(rows, render_items)


def _set_status(item_id: str, status: str) -> None:
    row = _store().set_item_status(item_id, status)
    verb = "Done" if status == "done" else "Reopened"
    output.emit(row, lambda c: c.print(f"{verb}: [cyan]{row['id'][:8]}[/] {_escape(row['task'])}"))


@actions.command()
def done(item_id: ItemArg, json: output.JsonOption = False) -> None:
    """Mark an action item done.

    Example: qylon meeting actions done 9c1e
    """
    _set_status(item_id, "done")


@actions.command()
def reopen(item_id: ItemArg, json: output.JsonOption = False) -> None:
    """Mark a done action item open again.

    Example: qylon meeting actions reopen 9c1e
    """
    _set_status(item_id, "open")


def analyze(
    meeting_id: IdArg,
    extractor: ExtractorOption = None,
    fallback: FallbackOption = None,
    on: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="The day the meeting took place, YYYY-MM-DD: the meeting moves there (as `meeting edit --date`) and due dates count from it.",
        ),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Find a stored meeting's action items, decisions and summary again (items found again keep their status).

    Example: qylon meeting analyze 3f2a --extractor llm --fallback offline
    """
    from qylon_cli import settings as settings_mod

    from .. import insights
    from ..corrections import edit_meeting
    from ..store.meeting_date import parse_given

    store = _store()
    meeting = store.get_meeting(meeting_id)
    if (
        on
    ):  # the meeting moves to that day (kept for later analyses), then its items are found again
        edit_meeting(store, meeting.id, when=parse_given(on, None, default=meeting.created_at))
        meeting = store.get_meeting(meeting.id)
    settings = settings_mod.load()
    name, fall = chosen(extractor, fallback)
    result = insights.analyze(
        meeting, extractor=name, fallback=fall, settings=settings, warn=output.warn
    )
    updated = insights.apply(meeting, result, previous=meeting.action_items)
    used = "offline" if result.warnings else result.extractor
    store.save_insights(
        meeting.id,
        items=updated.action_items,
        decisions=updated.decisions,
        summary=updated.summary,
        extractor=used,
    )
    data = _summary_data(
        store.get_meeting(meeting.id), used
    )  # as stored: corrections made by hand are kept
    output.emit(data, lambda c: render_summary(c, data))


def summary(meeting_id: IdArg, json: output.JsonOption = False) -> None:
    """Show a meeting's summary, decisions and action items.

    Example: qylon meeting summary 3f2a
    """
    store = _store()
    meeting = store.get_meeting(meeting_id)
    data = _summary_data(meeting, store.extractor(meeting.id))
    output.emit(data, lambda c: render_summary(c, data))


def _summary_data(meeting, extractor: str | None) -> dict:
    return {
        "id": meeting.id,
        "title": meeting.title,
        "created_at": meeting.created_at.isoformat(),
        "extractor": extractor,
        "summary": meeting.summary,
        "decisions": meeting.decisions,
        "action_items": [a.model_dump(mode="json") for a in meeting.action_items],
    }


def _escape(text: str | None) -> str:
    from rich.markup import escape

    return escape(text or "")


def render_items(console, rows: list[dict]) -> None:
    from rich.table import Table

    from ..store.formats import short_clock

    if not rows:
        console.print("No action items. `qylon meeting analyze ID` finds them in a stored meeting.")
        return
    table = Table("id", "status", "owner", "task", "due", "meeting", box=None)
    for row in rows:
        status = "[green]done[/]" if row["status"] == "done" else "open"
        table.add_row(
            row["id"][:8],
            status,
            _escape(row["owner"] or "—"),
            _escape(row["task"]),
            row["due"] or "",
            row["meeting_id"][:8],
        )
        if row["quote"]:
            at = f"@{short_clock(row['start'])} " if row["start"] is not None else ""
            table.add_row("", "", "", f"[dim]{at}“{_escape(row['quote'])}”[/]", "", "")
    console.print(table)


def render_summary(console, data: dict) -> None:
    console.print(
        f"[bold]{_escape(data['title'])}[/]  [dim]id {data['id'][:8]} · insights: {data['extractor'] or '?'}[/]"
    )
    console.print("\n[bold]Summary[/]\n" + (_escape(data["summary"]) or "[dim](none)[/]"))
    console.print("\n[bold]Decisions[/]")
    for text in data["decisions"] or []:
        console.print(f"  • {_escape(text)}")
    if not data["decisions"]:
        console.print("  [dim](none)[/]")
    console.print("\n[bold]Action items[/]")
    for item in data["action_items"]:
        box = "x" if item["status"] == "done" else " "
        owner = f"[magenta]{_escape(item['owner'])}[/]: " if item["owner"] else ""
        due = f" [dim](due {item['due']})[/]" if item["due"] else ""
        console.print(
            f"  {_escape(f'[{box}]')} [cyan]{item['id'][:8]}[/] {owner}{_escape(item['task'])}{due}"
        )
    if not data["action_items"]:
        console.print("  [dim](none)[/]")


def register(app: typer.Typer) -> None:
    app.command()(analyze)
    app.command()(summary)
    app.add_typer(actions, name="actions")
