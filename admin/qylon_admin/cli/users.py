"""`qylon users validate`: check a user CSV and show what importing it would do; and the group.

The whole `users` group is composed at the bottom of this module, in one place: this
command, and those of users_admin, users_import and users_person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output

from . import users_admin, users_import, users_person
from .users_options import (
    DateOrderOption,
    DeactivateOption,
    DelimiterOption,
    EncodingOption,
    MapOption,
    RegionOption,
    ReportOption,
)

app = typer.Typer(
    no_args_is_help=True,
)


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


# -- the `users` group, composed in one place (in the order `--help` lists it) --
app.command("validate")(validate_cmd)
users_admin.register(app)  # list, show, deactivate, reactivate, groups
users_import.register(app)  # import, export
users_person.register(app)  # add, update, set-role
