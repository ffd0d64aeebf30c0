"""`qylon users validate`: check a user CSV and show what importing it would do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output

app = typer.Typer(
    help="Users on the team server: one at a time, or in bulk from a CSV (Google Workspace, "
    "Entra ID, Okta or Qylon's own).\n\n"
    "Example: qylon users validate people.csv",
    no_args_is_help=True,
)

# The options `users validate` and `users import` share: defined once, used by both.
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        metavar="COLUMN=FIELD",
        help="Use COLUMN for FIELD (a Qylon field, attr:NAME or ignore). Repeatable.",
    ),
]
RegionOption = Annotated[
    str | None, typer.Option(help="Country for phone numbers without +code, e.g. GB.")
]
DateOrderOption = Annotated[
    str, typer.Option(help="For dates like 03/04/2026: dmy, mdy, or auto (refuse).")
]
EncodingOption = Annotated[
    str | None, typer.Option(help="Force the file's encoding (detected by default).")
]
DelimiterOption = Annotated[str | None, typer.Option(help="Force the delimiter: ',', ';' or tab.")]
ReportOption = Annotated[
    Path | None, typer.Option(help="Write each row's outcome to this .csv or .json.")
]
DeactivateOption = Annotated[
    bool,
    typer.Option(
        "--deactivate",
        help="Every row names a user to deactivate (a list of emails or Okta logins); "
        "Entra ID's bulk delete template is recognised without it.",
    ),
]


@app.command("validate")
def validate_cmd(
    file: Annotated[
        Path, typer.Argument(help="The CSV (UTF-8/16 or Windows-1252; comma, semicolon or tab).")
    ],
    map_: MapOption = None,
    mode: Annotated[str, typer.Option(help="Plan as: upsert, create-only or sync.")] = "upsert",
    region: RegionOption = None,
    date_order: DateOrderOption = "auto",
    encoding: EncodingOption = None,
    delimiter: DelimiterOption = None,
    deactivate: DeactivateOption = False,
    report: ReportOption = None,
    limit: Annotated[
        int, typer.Option(help="Plan entries to list (0 = all); counts cover every row.")
    ] = 100,
    json: output.JsonOption = False,
) -> None:
    """Read and check a user CSV offline and print the plan and every error; nothing changes.

    The plan is made against no existing users (every valid row is a create; the rows of
    a delete file, deactivations); the same checks run before `qylon users import`
    applies a file. Exit 3 when any row is invalid.

    Example: qylon users validate people.csv --map "Work Mail=email" --report check.csv
    """
    from ..users.preview import preview
    from ..users.validate import ValidationFailed
    from .users_progress import file_progress
    from .users_render import render

    with file_progress() as progress:
        result = preview(
            file,
            mapping=map_ or (),
            mode=mode,
            region=region,
            date_order=date_order,
            encoding=encoding,
            delimiter=delimiter,
            report=report,
            limit=limit,
            progress=progress,
            deactivate=deactivate,
        )
    data = result.to_dict()
    if result.error_count:
        if not output.json_mode():
            render(data, output.stdout())
        rows = result.rejected_rows
        raise ValidationFailed(
            f"{file.name}: {result.error_count} error(s) in {rows} row(s); nothing was changed.",
            hint="Fix the rows listed, or map columns with --map COLUMN=FIELD.",
            details=data if output.json_mode() else None,
        )
    output.emit(data, lambda console: render(data, console))


from . import users_admin, users_import, users_person  # noqa: F401  (they add commands to `app`)
