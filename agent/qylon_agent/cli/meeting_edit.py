"""`qylon meeting edit | fix` and `qylon meeting actions add | edit`: correcting a stored meeting.

Every correction is stored at once, queued for the team server with it, and kept when
the meeting is analysed again. Heavy imports stay inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qylon_cli import output

from .params import IdArg, ItemArg, client_option

OwnerOption = Annotated[str | None, typer.Option(help="Who does it (none to clear).")]
DueOption = Annotated[
    str | None,
    typer.Option(
        help="A date (2026-11-27) or a phrase counted from the meeting's day (Friday, next week); none to clear."
    ),
]


def _store():
    from ..store.database import Store

    return Store()


def edit(
    meeting_id: IdArg,
    title: Annotated[str | None, typer.Option(help="A new title.")] = None,
    client: Annotated[str | None, client_option("The client (none to clear).")] = None,
    on: Annotated[
        str | None,
        typer.Option(
            "--date", help="The day it took place, YYYY-MM-DD; relative due dates move with it."
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--time", help="When it started, HH:MM local time.")
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Correct a meeting's title, client or date ("by Friday" items then count from the new date).

    Example: qylon meeting edit 3f2a --title "Kick-off with Globex" --client Globex --date 2026-11-18
    """
    from qylon_cli.errors import UsageError

    from ..corrections import edit_meeting
    from ..store.meeting_date import parse_given

    if title is None and client is None and on is None and at is None:
        raise UsageError("Nothing to change.", hint="Give --title, --client, --date or --time.")
    store = _store()
    meeting = store.get_meeting(meeting_id)
    data = edit_meeting(
        store,
        meeting.id,
        title=title,
        client=client,
        when=parse_given(on, at, default=meeting.created_at),
    )

    def human(c) -> None:
        c.print(f"Meeting {data['id'][:8]}: changed {', '.join(data['changed']) or 'nothing'}.")
        for item in data["due_dates_moved"]:
            c.print(f"  due {item['from']} → {item['to']}: {escape(item['task'])}")

    output.emit(data, human)


def fix(
    meeting_id: IdArg,
    segment: Annotated[
        int | None,
        typer.Argument(
            min=1, help="The segment's number (`meeting show` lists them).", show_default=False
        ),
    ] = None,
    text: Annotated[
        str | None, typer.Argument(help="What the segment should say.", show_default=False)
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            help="A transcript exported with `export -f txt` and corrected in an editor.",
        ),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Correct the words of a transcript: one segment, or a whole exported transcript read back.

    Example: qylon meeting fix 3f2a 12 "We sign with Globex on Friday."
    Example: qylon meeting export 3f2a -f txt -o call.txt; (edit call.txt); qylon meeting fix 3f2a --from-file call.txt
    """
    from qylon_cli.errors import UsageError

    from ..corrections import fix_segments, read_transcript

    store = _store()
    if from_file is not None:
        if segment is not None or text is not None:
            raise UsageError("Give either SEGMENT TEXT or --from-file, not both.")
        fixes = read_transcript(store, meeting_id, from_file)
    elif segment is None or text is None:
        raise UsageError(
            "Give a segment number and its text, or --from-file.",
            hint='qylon meeting fix ID 12 "the right words"',
        )
    else:
        fixes = {segment: text}
    data = fix_segments(store, meeting_id, fixes)

    def human(c) -> None:
        if not data["fixed"]:
            c.print("Nothing changed: the text is the same.")
        for f in data["fixed"]:
            c.print(f"  {f['segment']}: {escape(f['to'])}")

    output.emit(data, human)


def add_item(
    meeting_id: IdArg,
    task: Annotated[str, typer.Argument(help="What is to be done.", show_default=False)],
    owner: OwnerOption = None,
    due: DueOption = None,
    json: output.JsonOption = False,
) -> None:
    """Add an action item to a meeting by hand (kept when the meeting is analysed again).

    Example: qylon meeting actions add 3f2a "Send the signed contract" --owner Dana --due Friday
    """
    from ..corrections import add_item as add

    row = add(_store(), meeting_id, task=task, owner=owner, due=due)
    output.emit(
        row,
        lambda c: c.print(
            f"Added [cyan]{row['id'][:8]}[/] {escape(row['task'])}"
            + (f" (due {row['due']})" if row["due"] else "")
        ),
    )


def edit_item(
    item_id: ItemArg,
    owner: OwnerOption = None,
    task: Annotated[str | None, typer.Option(help="The task, reworded.")] = None,
    due: DueOption = None,
    json: output.JsonOption = False,
) -> None:
    """Correct an action item's owner, task or due date (kept when the meeting is analysed again).

    Example: qylon meeting actions edit 9c1e --owner "Dana Scully" --due 2026-11-27
    """
    from ..corrections import edit_item as edit_

    row = edit_(_store(), item_id, task=task, owner=owner, due=due)
    output.emit(
        row,
        lambda c: c.print(
            f"Updated [cyan]{row['id'][:8]}[/] {escape(row['task'])}"
            + (f" (due {row['due']})" if row["due"] else "")
        ),
    )


def register(app: typer.Typer, actions: typer.Typer) -> None:
    app.command()(edit)
    app.command()(fix)
    actions.command("add")(add_item)
    actions.command("edit")(edit_item)
