"""`qylon users import` and `qylon users export`: a user file to the server and back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.client import ApiClient

from .users_options import (
    DateOrderOption,
    DeactivateOption,
    DelimiterOption,
    EncodingOption,
    MapOption,
    RegionOption,
    ReportOption,
)

# The brake on --mode sync: a cut-off export must not deactivate the firm. Entra ID's
# accidental-deletion threshold is 500 users; for teams of tens, a share fits better.
MAX_DEACTIVATE = "10%"

# Generous retries: an import rides out a server restart (its batches are idempotent).
PATIENT = {"retries": 8, "max_wait": 10}
ONBOARD_BATCH = 500  # people per POST /v1/onboarding/batch (the route's limit)


def _applied_line(console, counts: dict) -> None:
    order = ("created", "updated", "deactivated", "reactivated", "unchanged", "skipped", "rejected")
    shown = ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))
    console.print(
        f"\n[bold]Applied[/]: {shown or 'nothing to do'}"
        + (f"; {counts['managers_set']} manager(s) set" if counts.get("managers_set") else "")
    )


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
            help="abort: any invalid row stops everything (exit 3); skip: apply the valid rows "
            "(exit 7 when some were rejected)."
        ),
    ] = "abort",
    mode: Annotated[
        str,
        typer.Option(
            help="upsert, create-only, or sync (also deactivates users missing from the file)."
        ),
    ] = "upsert",
    max_deactivate: Annotated[
        str,
        typer.Option(
            metavar="N|P%",
            help="Refuse a sync that deactivates more users than this (a number, or a share "
            "of the active users; 100% = no limit).",
        ),
    ] = MAX_DEACTIVATE,
    deactivate: DeactivateOption = False,
    report: ReportOption = None,
    region: RegionOption = None,
    date_order: DateOrderOption = "auto",
    encoding: EncodingOption = None,
    delimiter: DelimiterOption = None,
    create_groups: Annotated[
        bool,
        typer.Option(
            "--create-groups",
            help="Create the groups the file names that do not exist yet (else such rows are errors).",
        ),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            max=1000,
            help="Users per request to the server (onboarding starts: at most 500 a request).",
        ),
    ] = 1000,
    limit: Annotated[int, typer.Option(help="Plan entries to list (0 = all).")] = 100,
    onboard: Annotated[
        str | None,
        typer.Option(
            metavar="SEQUENCE",
            help="Then start this onboarding sequence for every user the import created "
            "(500 a request; a running experiment on it assigns each a variant).",
        ),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Create, update and deactivate users on the team server from a CSV.

    Every row is checked first; the plan is always printed. Groups the file names must
    exist unless --create-groups. --mode sync also deactivates the active users the file
    does not list (at most --max-deactivate of them); a delete file (Entra ID's bulk
    delete template, or --deactivate) deactivates the users it lists. Applying goes in
    idempotent batches: running the same file again, or again after a crash, never
    duplicates. Exit 7 when some rows were applied and others rejected.

    Example: qylon users import people.csv --dry-run --map "Work Mail=email"

    Example: qylon users import people.csv --onboard new-consultant --json
    """
    from qylon_cli.errors import UsageError

    from ..users import remote
    from ..users.plan import parse_max_deactivate
    from ..users.preview import preview
    from .users_progress import file_progress

    if on_error not in ("abort", "skip"):
        raise UsageError(f"Unknown --on-error {on_error!r}.", hint="Use abort or skip.")
    parse_max_deactivate(max_deactivate)
    with ApiClient.from_credentials(**PATIENT) as api:
        existing, me = remote.fetch(api)
        before = {row["email"] for row in existing} if onboard else set()
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
                encoding=encoding,
                delimiter=delimiter,
                report=report if dry_run else None,
                limit=limit,
                keep=True,
                progress=progress,
                groups=groups,
                create_groups=create_groups,
                deactivate=deactivate,
            )
        existing = None  # the planner holds them now; free the raw rows
        with result:
            data = _checked(result, file, on_error=on_error)
            _braked(result.planner, max_deactivate, data)
            if not dry_run:
                data.update(_applied(api, result, file, map_, report, batch_size))
        if onboard and not dry_run:
            data["onboarded"] = _onboard(api, before, onboard, batch_size)
    data["dry_run"] = dry_run
    _finish(data, file, dry_run=dry_run)


def _onboard(api, before: set[str], sequence: str, batch_size: int) -> dict:
    """Start ``sequence`` for each user on the server now who was not before the import,
    through ``POST /v1/onboarding/batch``: one request per ``batch_size`` people (at most
    ONBOARD_BATCH), each idempotent per person and sequence."""
    from ..users import remote

    created = sorted(u["email"] for u in remote.users(api) if u["email"] not in before)
    size = min(batch_size, ONBOARD_BATCH)
    counts, errors = {"started": 0, "already_running": 0}, []
    for first in range(0, len(created), size):
        items = [{"user": email, "sequence": sequence} for email in created[first : first + size]]
        answer = api.post("/v1/onboarding/batch", {"items": items})
        for result in answer["results"]:
            if result["status"] == "error":
                errors.append({"email": result["user"], **result["error"]})
            else:
                counts[result["status"]] += 1
    output.info(f"Onboarding {sequence} started for {counts['started']} new user(s).")
    for error in errors:
        output.info(f"Onboarding {sequence} not started for {error['email']}: {error['message']}")
    return {"sequence": sequence, **counts, "errors": errors, "emails": created}


def _checked(result, file: Path, *, on_error: str) -> dict:
    """Print the plan; refuse (exit 3) a file with errors unless --on-error skip."""
    from ..users.validate import ValidationFailed
    from .users_render import render

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
    return data


def _braked(planner, max_deactivate: str, data: dict) -> None:
    """The --max-deactivate brake; in --json the refusal carries the plan (who would go)."""
    from qylon_cli.errors import InvalidInput

    from ..users.plan import check_deactivations
    from ..users.validate import ValidationFailed

    try:
        check_deactivations(planner, max_deactivate)
    except InvalidInput as exc:
        refused = ValidationFailed(
            exc.message, hint=exc.hint, details=data if output.json_mode() else None
        )
        refused.code = exc.code
        raise refused from None


def _applied(api, result, file: Path, map_, report, batch_size: int) -> dict:
    from ..users.apply import apply_preview, row_counts
    from .users_progress import file_progress

    with file_progress() as progress:
        applied = apply_preview(
            api,
            result,
            path=file,
            mapping=map_ or (),
            report=report,
            batch_size=batch_size,
            progress=progress,
        )
    rows = row_counts(applied)
    return {"applied": applied, "rows_applied": rows["applied"], "rows_rejected": rows["rejected"]}


def _finish(data: dict, file: Path, *, dry_run: bool) -> None:
    """Print the outcome; a partly applied file exits 7, one with every row rejected 3."""
    from ..users.apply import PartiallyApplied
    from ..users.validate import ValidationFailed

    rejected = data.get("rows_rejected", 0)
    if not dry_run and rejected:
        details = data if output.json_mode() else None
        if not output.json_mode():
            _applied_line(output.stdout(), data["applied"])
        if not data["rows_applied"]:
            raise ValidationFailed(
                f"{file.name}: all {rejected} row(s) were rejected; nothing was changed.",
                hint="Fix the rows listed (the report names each one).",
                details=details,
            )
        raise PartiallyApplied(
            f"{file.name}: {data['rows_applied']} row(s) applied, {rejected} rejected.",
            hint="The rejected rows are listed (and in --report); fix them and run the same "
            "import again: the applied rows come out unchanged.",
            details=details,
        )
    output.emit(
        data, (lambda c: _applied_line(c, data["applied"])) if not dry_run else (lambda c: None)
    )


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


def register(app: typer.Typer) -> None:
    """Add this module's commands to `users`: import, export."""
    app.command("import")(import_cmd)
    app.command("export")(export_cmd)
