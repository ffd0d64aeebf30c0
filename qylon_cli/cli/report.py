"""`qylon report meetings|onboarding|experiments|dashboard`: figures about meetings (this
device's, or the team's with --team), onboarding (funnel per cohort, overdue compliance)
and experiments, as a table, JSON, CSV, Markdown, HTML or PNG (docs/reports.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import output

app = typer.Typer(no_args_is_help=True)

FORMATS = ("table", "json", "csv", "md", "html", "png")  # reports.formats.FORMATS, unimported


def _complete_format(incomplete: str) -> list[str]:
    return [f for f in FORMATS if f.startswith(incomplete)]


def _complete_by(incomplete: str) -> list[str]:
    return [b for b in ("month", "week") if b.startswith(incomplete)]


FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="table, json, csv, md, html (tables and charts in one page) or png (the charts).",
        autocompletion=_complete_format,
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write to this file (stdout without it).", show_default=False
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(help="Only from then on: 30d, 4w or a date (2026-11-01).", show_default=False),
]


def _format(value: str) -> str:
    from ..errors import UsageError
    from ..reports.formats import FORMATS

    fmt = value.strip().lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format: {value!r} is not one of {', '.join(FORMATS)}.")
    return fmt


def _local_meetings(client: str | None, since) -> list[dict]:
    from .. import plugins
    from ..errors import UsageError

    source = plugins.report_sources().get("meetings")
    if source is None:
        raise UsageError(
            "This device has no meetings to report on: the agent is not installed.",
            hint="Install it with: pip install 'qylon[agent]', or add --team for the team server's.",
        )
    return plugins.resolve(source.target)(client=client, since=since)


@app.command("meetings")
def meetings_cmd(
    client: Annotated[
        str | None, typer.Option(help="Only this client's meetings.", show_default=False)
    ] = None,
    since: SinceOption = None,
    team: Annotated[
        bool, typer.Option("--team", help="The team server's meetings, not this device's.")
    ] = False,
    format: FormatOption = "table",
    out: OutOption = None,
    json: output.JsonOption = False,
) -> None:
    """Meetings, hours, talk-time share per speaker, action items opened and closed, and the
    median days to close one: from this device's meetings, or the team server's (--team).

    Example: qylon report meetings --client Acme --since 2026-11-01

    Example: qylon report meetings --team --since 30d --format html -o meetings.html
    """
    from ..reports.meetings import meeting_figures, since_date

    fmt, day = _format(format), since_date(since)
    if team:
        from ..client import ApiClient

        with ApiClient.from_credentials() as api:
            data = api.get(
                "/v1/reports/meetings", client=client, since=day.isoformat() if day else None
            )
    else:
        data = meeting_figures(_local_meetings(client, day), client=client, since=day)
    _write(data, fmt, out)


def _write(data: dict, fmt: str, out: Path | None) -> None:
    from ..reports.formats import write

    write(data, fmt, out)


@app.command("onboarding")
def onboarding_cmd(
    since: SinceOption = None,
    by: Annotated[
        str,
        typer.Option(
            help="Cohorts by the month or the week people started.", autocompletion=_complete_by
        ),
    ] = "month",
    format: FormatOption = "table",
    out: OutOption = None,
    json: output.JsonOption = False,
) -> None:
    """The onboarding funnel per cohort (started, first email sent, compliance complete,
    completed, stopped) and the compliance items overdue, from the team server. Admins.

    Example: qylon report onboarding --since 2026-09-01 --by week --format md
    """
    from ..client import ApiClient
    from ..errors import UsageError
    from ..reports.meetings import since_date

    fmt, day = _format(format), since_date(since)
    if by not in ("month", "week"):
        raise UsageError(f"--by: {by!r} is neither month nor week.")
    with ApiClient.from_credentials() as api:
        data = api.get("/v1/reports/onboarding", since=day.isoformat() if day else None, by=by)
    _write(data, fmt, out)


@app.command("experiments")
def experiments_cmd(
    name: Annotated[
        list[str] | None,
        typer.Option(
            "--name", help="Only this experiment (repeat for several).", show_default=False
        ),
    ] = None,
    format: FormatOption = "table",
    out: OutOption = None,
    json: output.JsonOption = False,
) -> None:
    """Every experiment's variants with exposures, conversions, rate, lift and p-value (the
    figures of `qylon experiments results`), charted side by side. Admins.

    Example: qylon report experiments --format png -o experiments.png
    """
    from ..client import ApiClient

    fmt = _format(format)
    with ApiClient.from_credentials() as api:
        data = api.request("GET", "/v1/reports/experiments", params={"name": name or None})
    _write(data, fmt, out)


@app.command("dashboard")
def dashboard_cmd(
    open_: Annotated[bool, typer.Option("--open", help="Open it in the web browser.")] = False,
    json: output.JsonOption = False,
) -> None:
    """A link to the team's read-only dashboard page on the server (meetings, and for
    admins onboarding and experiments), signed for you and valid for a day.

    Example: qylon report dashboard --open
    """
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        data = api.post("/v1/reports/dashboard-link", None)
    if open_:
        import webbrowser

        webbrowser.open(data["url"])
    output.emit(data, lambda c: c.print(data["url"], markup=False, soft_wrap=True))
