"""`qylon onboarding at-risk|evaluate|rules ...`: re-engagement on the team server
(docs/onboarding-risk.md). ``register(app)`` adds these commands to the `onboarding`
group, whichever module makes that group."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.client import ApiClient

AtOption = Annotated[
    datetime | None,
    typer.Option(
        "--at",
        help="As of this time (ISO 8601, UTC when no offset); default now.",
        show_default=False,
    ),
]
rules_app = typer.Typer(
    help="Re-engagement rules: validate (offline), upload, list.\n\n"
    "Example: qylon onboarding rules upload config/engagement/*.yaml",
    no_args_is_help=True,
)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _people(c, items: list[dict], _total: int) -> None:
    from rich.table import Table
    from rich.text import Text

    if not items:
        c.print("Nobody is at risk.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Person", "Risk", "Score", "Reasons"):
        table.add_column(col)
    for p in items:
        why = "\n".join(f"{r['rule']}: {'; '.join(r['facts'])}" for r in p["reasons"])
        table.add_row(Text(p["email"]), str(p["risk"]), f"{p['score']:g}", Text(why))
    c.print(table)


def at_risk_cmd(at: AtOption = None, json: output.JsonOption = False) -> None:
    """List the people a re-engagement rule matches, the riskiest first, with the rules
    and the facts that match (no nudge is sent).

    Example: qylon onboarding at-risk --json
    """
    params = {"at": _iso(at)} if at else {}
    with ApiClient.from_credentials() as api:
        page = api.get("/v1/engagement/at-risk", **params)
    output.emit_list(
        page["items"], lambda c, items: _people(c, items, page["total"]), total=page["total"]
    )


def evaluate_cmd(
    at: AtOption = None,
    cap_per_week: Annotated[
        int, typer.Option(min=1, max=50, help="Nudges per person in 7 days, all rules together.")
    ] = 2,
    json: output.JsonOption = False,
) -> None:
    """Match the rules now (or --at) and start each match's nudge workflow, within the
    weekly caps; prints what started and what was held back.

    Example: qylon onboarding evaluate --cap-per-week 1
    """
    with ApiClient.from_credentials() as api:
        done = api.post("/v1/engagement/evaluate", {"at": _iso(at), "cap_per_week": cap_per_week})

    def say(c) -> None:
        c.print(f"{len(done['started'])} nudge(s) started, {len(done['held'])} held back.")
        for s in done["started"]:
            c.print(f"  started {s['rule']} for {s['email']}: {s['run_id']}", markup=False)
        for h in done["held"]:
            c.print(f"  held {h['rule']} for {h['email']}: {h['why']}", markup=False)

    output.emit(done, say)


@rules_app.command("validate")
def validate_cmd(
    files: Annotated[list[Path], typer.Argument(help="Rule files (YAML).", show_default=False)],
    json: output.JsonOption = False,
) -> None:
    """Check rule files offline: every problem with its file, line and field (exit 3).

    Example: qylon onboarding rules validate config/engagement/*.yaml
    """
    from qylon_cli.engagement_rules import check
    from qylon_cli.workflow_defs import WorkflowInvalid

    checked = [check(f.read_bytes(), str(f)) if f.exists() else None for f in files]
    missing = [str(f) for f, c in zip(files, checked, strict=True) if c is None]
    if missing:
        from qylon_cli.errors import UsageError

        raise UsageError(f"No such file: {', '.join(missing)}.")
    items = [c.to_dict() for c in checked]
    bad = [c for c in checked if not c.valid]
    if bad:
        lines = [p.format(c.source) for c in bad for p in c.problems]
        raise WorkflowInvalid(
            "\n".join(lines[:20]),
            hint="docs/onboarding-risk.md describes the format.",
            details={"items": items},
        )
    output.emit_list(
        items,
        lambda c, found: [c.print(f"ok {i['file']}: {i['name']} v{i['version']}") for i in found],
    )


@rules_app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of a rule file (for editors; docs/engagement-rule.schema.json).

    Example: qylon onboarding rules schema > engagement-rule.schema.json
    """
    import json

    from qylon_cli.engagement_rules import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@rules_app.command("upload")
def upload_cmd(
    files: Annotated[list[Path], typer.Argument(help="Rule files (YAML).", show_default=False)],
    json: output.JsonOption = False,
) -> None:
    """Upload rules to the team server (the same text again changes nothing).

    Example: qylon onboarding rules upload config/engagement/*.yaml
    """
    from qylon_cli.errors import UsageError

    for f in files:
        if not f.is_file():
            raise UsageError(f"No such file: {f}.")
    with ApiClient.from_credentials() as api:
        items = [api.post("/v1/engagement/rules", {"text": f.read_text()}) for f in files]

    def say(c, found) -> None:
        for r in found:
            verb = "Uploaded" if r["created"] else "Unchanged:"
            c.print(f"{verb} {r['name']} v{r['version']}", markup=False)

    output.emit_list(items, say)


@rules_app.command("list")
def list_rules_cmd(json: output.JsonOption = False) -> None:
    """List the rules in force (the newest version of each).

    Example: qylon onboarding rules list --json
    """
    with ApiClient.from_credentials() as api:
        page = api.get("/v1/engagement/rules")

    def say(c, found) -> None:
        if not found:
            c.print("No rules: upload some with `qylon onboarding rules upload`.")
        for r in found:
            state = "" if r["enabled"] else " (disabled)"
            c.print(f"{r['name']} v{r['version']}{state}: nudge {r['workflow']}", markup=False)

    output.emit_list(page["items"], say, total=page["total"])


def register(app: typer.Typer) -> None:
    """Add these commands to the `onboarding` group ``app``."""
    app.command("at-risk")(at_risk_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.add_typer(rules_app, name="rules")
