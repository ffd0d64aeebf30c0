"""`qylon users import` and `qylon users export`: a user file to the server and back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.client import ApiClient

from .users import MapOption, app

# Generous retries: an import rides out a server restart (its batches are idempotent).
PATIENT = {"retries": 8, "max_wait": 10}


def _applied_line(console, counts: dict) -> None:
    order = ("created", "updated", "deactivated", "reactivated", "unchanged", "skipped", "rejected")
    shown = ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))
    console.print(
        f"\n[bold]Applied[/]: {shown or 'nothing to do'}"
        + (f"; {counts['managers_set']} manager(s) set" if counts.get("managers_set") else "")
    )


@app.command("import")
def import_cmd(
    file: Annotated[
        Path, typer.Argument(help="The CSV (Google Workspace, Entra ID, Okta or Qylon's own).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only print the plan; change nothing.")
    ] = False,
    map_: MapOption = None,
    on_error: Annotated[
        str,
        typer.Option(
            help="abort: any invalid row stops everything (exit 3); skip: apply the valid rows."
        ),
    ] = "abort",
    mode: Annotated[
        str,
        typer.Option(
            help="upsert, create-only, or sync (also deactivates users missing from the file)."
        ),
    ] = "upsert",
    report: Annotated[
        Path | None, typer.Option(help="Write each row's outcome to this .csv or .json.")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Country for phone numbers without +code, e.g. GB.")
    ] = None,
    date_order: Annotated[
        str, typer.Option(help="For dates like 03/04/2026: dmy, mdy, or auto (refuse).")
    ] = "auto",
    create_groups: Annotated[
        bool,
        typer.Option(
            "--create-groups",
            help="Create the groups the file names that do not exist yet (else such rows are errors).",
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=1000, help="Users per request to the server.")
    ] = 1000,
    limit: Annotated[int, typer.Option(help="Plan entries to list (0 = all).")] = 100,
    json: output.JsonOption = False,
) -> None:
    """Create, update (and with --mode sync deactivate) users on the team server from a CSV.

    Every row is checked first; the plan is always printed. Groups the file names must
    exist unless --create-groups. Applying goes in idempotent batches: running the same
    file again, or again after a crash, never duplicates.

    Example: qylon users import people.csv --dry-run --map "Work Mail=email"
    """
    from qylon_cli.errors import UsageError

    from ..users import remote
    from ..users.apply import apply_preview
    from ..users.preview import preview
    from ..users.validate import ValidationFailed
    from .users_progress import file_progress
    from .users_render import render

    if on_error not in ("abort", "skip"):
        raise UsageError(f"Unknown --on-error {on_error!r}.", hint="Use abort or skip.")
    with ApiClient.from_credentials(**PATIENT) as api:
        existing, me = remote.fetch(api)
        groups = remote.group_names(api)
        with file_progress() as progress:
            result = preview(
                file,
                mapping=map_ or (),
                existing=existing,
                mode=mode,
                caller=me,
                region=region,
                date_order=date_order,
                report=report if dry_run else None,
                limit=limit,
                keep=True,
                progress=progress,
                groups=groups,
                create_groups=create_groups,
            )
        existing = None  # the planner holds them now; free the raw rows
        with result:
            data = result.to_dict()
            if not output.json_mode():
                render(data, output.stdout())
            if result.error_count and on_error == "abort":
                raise ValidationFailed(
                    f"{file.name}: {result.error_count} error(s) in {result.rejected_rows} "
                    "row(s); nothing was changed.",
                    hint="Fix the rows listed, or use --on-error skip to import the valid rows.",
                    details=data if output.json_mode() else None,
                )
            if not dry_run:
                with file_progress() as progress:
                    data["applied"] = apply_preview(
                        api,
                        result,
                        path=file,
                        mapping=map_ or (),
                        report=report,
                        batch_size=batch_size,
                        progress=progress,
                    )
    data["dry_run"] = dry_run
    output.emit(
        data, (lambda c: _applied_line(c, data["applied"])) if not dry_run else (lambda c: None)
    )


@app.command("export")
def export_cmd(
    format: Annotated[
        str, typer.Option("--format", help="csv (what `qylon users import` reads) or json.")
    ] = "csv",
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Write every user on the server as a file `qylon users import` reads back unchanged.

    Example: qylon users export -o people.csv
    """
    import json as jsonlib
    import sys

    from qylon_cli.errors import UsageError

    from ..users import remote
    from ..users.writer import write_users

    if format not in ("csv", "json"):
        raise UsageError(f"Unknown format {format!r}.", hint="Use csv or json.")
    with ApiClient.from_credentials(**PATIENT) as api:
        rows = remote.rows_from_server(remote.users(api))
    if output.json_mode():
        if out:
            write_users(rows, out) if format == "csv" else out.write_text(
                jsonlib.dumps(rows, ensure_ascii=False)
            )
        output.emit({"file": str(out), "users": len(rows)} if out else rows)
        return
    if format == "json":
        text = jsonlib.dumps(rows, ensure_ascii=False, indent=2) + "\n"
        (out.write_text(text, encoding="utf-8") if out else sys.stdout.write(text))
    elif out:
        write_users(rows, out)
    else:
        write_users(rows, sys.stdout)
    if out:
        output.info(f"Wrote {len(rows)} user(s) to {out}.")
