"""The options `users validate` and `users import` share: defined once, used by both."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
