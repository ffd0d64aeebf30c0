"""`qylon onboarding start|status|stop`, `qylon onboarding sequences upload|list` and
`qylon onboarding mail-settings show|set`: email sequences for new people, run on the
team server (docs/onboarding.md). The re-engagement commands (`at-risk`, `rules`) live in
``onboarding_risk`` and add themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.client import ApiClient

from . import onboarding_risk

app = typer.Typer(
    no_args_is_help=True,
)
sequences_app = typer.Typer(
    help="Email sequences: upload (with their templates), list.\n\n"
    "Example: qylon onboarding sequences upload config/sequences/new-consultant.yaml",
    no_args_is_help=True,
)
mail_app = typer.Typer(
    help="The organisation's mail relay and sender.\n\n"
    "Example: qylon onboarding mail-settings set --from onboarding@firm.example",
    no_args_is_help=True,
)
onboarding_risk.register(app)
app.add_typer(sequences_app, name="sequences")
app.add_typer(mail_app, name="mail-settings")

UserOption = Annotated[str, typer.Option("--user", help="The person's email.", show_default=False)]


def _when(value: str | None) -> str:
    """``2026-12-08T09:00:00-05:00`` as ``Tue 08 Dec 09:00 -0500`` (the person's time)."""
    from datetime import datetime

    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%a %d %b %H:%M %z")


def _variant(o: dict) -> str:
    """``welcome-subject: b`` for an onboarding an experiment assigned a variant."""
    return f"{o['experiment']}: {o['variant']}" if o.get("experiment") else ""


def _table(c, items: list[dict]) -> None:
    from rich.table import Table

    if not items:
        c.print("No onboardings.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Person", "Sequence", "Experiment", "Status", "Sent", "Last", "Next"):
        table.add_column(col)
    for o in items:
        nxt = o.get("next") or {}
        status = o["status"] + (f" ({o['reason']})" if o.get("reason") else "")
        shown_next = f"{nxt['step']} {_when(nxt.get('local') or nxt.get('due'))}" if nxt else ""
        runs = f" -> {o['run_sequence']}" if o.get("run_sequence") else ""
        table.add_row(
            o["email"],
            f"{o['sequence']}{runs} v{o['version']}",
            _variant(o),
            status,
            str(o["emails_sent"]),
            o.get("last_step") or "",
            shown_next,
        )
    c.print(table)


def start_for(api, email: str, sequence: str) -> dict:
    return api.post("/v1/onboarding", {"email": email, "sequence": sequence})


@app.command("start")
def start_cmd(
    user: UserOption,
    sequence: Annotated[str, typer.Option(help="The sequence's name.")] = "new-consultant",
    json: output.JsonOption = False,
) -> None:
    """Start a sequence for a person: one workflow run sends its emails. Starting it
    again for the same person and sequence answers the same run. When a running
    experiment covers the sequence (or one of its templates), the person gets a variant
    (shown, and in `status`) and the run uses that variant's sequence or template.

    Example: qylon onboarding start --user ana@firm.example --sequence new-consultant --json
    """
    with ApiClient.from_credentials() as api:
        row = start_for(api, user, sequence)
    variant = f"; {_variant(row)}" if row.get("experiment") else ""
    output.emit(row, lambda c: c.print(f"Onboarding {row['sequence']} for {row['email']}: "
                                       f"{row['status']} (run {row['run_id']}{variant})."))  # fmt: skip


@app.command("status")
def status_cmd(
    user: Annotated[str | None, typer.Option("--user", help="Only this person.")] = None,
    sequence: Annotated[str | None, typer.Option(help="Only this sequence.")] = None,
    json: output.JsonOption = False,
) -> None:
    """Onboardings: status, emails sent, and when the next one is due (their local time).

    Example: qylon onboarding status --user ana@firm.example
    """
    params = {k: v for k, v in (("email", user), ("sequence", sequence)) if v}
    with ApiClient.from_credentials() as api:
        page = api.get("/v1/onboarding", **params)
    output.emit_list(page["items"], _table)


@app.command("stop")
def stop_cmd(
    user: UserOption,
    sequence: Annotated[str | None, typer.Option(help="Only this sequence.")] = None,
    json: output.JsonOption = False,
) -> None:
    """Stop a person's onboarding emails (every sequence, or one).

    Example: qylon onboarding stop --user ana@firm.example --sequence new-consultant
    """
    body = {"email": user, "sequence": sequence}
    with ApiClient.from_credentials() as api:
        page = api.post("/v1/onboarding/stop", body)
    output.emit_list(page["items"], _table)


@sequences_app.command("upload")
def upload_cmd(
    file: Annotated[Path, typer.Argument(help="A sequence (config/sequences/NAME.yaml).")],
    json: output.JsonOption = False,
) -> None:
    """Upload a sequence with the templates it names (config/email/NAME.md.j2 beside
    config/sequences/). Each version is stored once.

    Example: qylon onboarding sequences upload config/sequences/new-consultant.yaml
    """
    from qylon_cli.errors import UsageError
    from qylon_cli.sequence_defs import bundle

    if not file.is_file():
        raise UsageError(f"No file {file}.")
    body = bundle(file).model_dump()
    with ApiClient.from_credentials() as api:
        row = api.post("/v1/onboarding/sequences", body)
    output.emit(row, lambda c: c.print(f"Uploaded {row['name']} v{row['version']} "
                                       f"({len(row['templates'])} template(s))."))  # fmt: skip


@sequences_app.command("validate")
def validate_cmd(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="Sequence files.")],
    json: output.JsonOption = False,
) -> None:
    """Check sequences and their templates' names offline (nothing is sent). Each error
    names the file, the line and the field; exit 3 when any file is invalid.

    Example: qylon onboarding sequences validate config/sequences/*.yaml
    """
    from qylon_cli.errors import UsageError
    from qylon_cli.sequence_defs import bundle, check
    from qylon_cli.workflow_defs import WorkflowInvalid

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"No such file: {', '.join(missing)}.")
    results = []
    for path in files:
        checked = check(path.read_bytes(), str(path))
        if checked.valid:
            try:
                bundle(path)  # its templates exist
            except WorkflowInvalid as exc:
                results.append({**checked.to_dict(), "valid": False,
                                "errors": [{"line": None, "field": "template", "message": exc.message}]})  # fmt: skip
                continue
        results.append(checked.to_dict())
    bad = [r for r in results if not r["valid"]]
    if bad:
        lines = [f"{r['file']}:{e['line'] or ''}: {e['field'] or ''}: {e['message']}"
                 for r in bad for e in r["errors"]]  # fmt: skip
        raise WorkflowInvalid("\n".join(lines), hint="See docs/onboarding.md.",
                              details={"items": results})  # fmt: skip
    output.emit_list(results, lambda c, items: [c.print(f"{r['file']}: valid") for r in items])


@sequences_app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of a sequence (also in docs/sequence.schema.json).

    Example: qylon onboarding sequences schema > sequence.schema.json
    """
    import json as jsonlib
    import sys

    from qylon_cli.sequence_defs import json_schema

    sys.stdout.write(jsonlib.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")


@sequences_app.command("list")
def list_sequences_cmd(json: output.JsonOption = False) -> None:
    """The uploaded sequences, every version.

    Example: qylon onboarding sequences list --json
    """
    with ApiClient.from_credentials() as api:
        page = api.get("/v1/onboarding/sequences")

    def human(c, items):
        for s in items:
            c.print(f"{s['name']} v{s['version']}  {', '.join(s['templates'])}")

    output.emit_list(page["items"], human)


def _settings_line(c, s: dict) -> None:
    relay = s.get("relay_host") or "none"
    c.print(f"relay: {relay} ({s.get('relay_source') or 'not set'}); from: {s['mail_from']}; "
            f"country: {s.get('country') or '-'}; time zone: {s.get('time_zone') or 'UTC'}")  # fmt: skip


@mail_app.command("show")
def settings_show_cmd(json: output.JsonOption = False) -> None:
    """The relay (its host; never its URL, which may hold a password), sender, country
    and default time zone.

    Example: qylon onboarding mail-settings show
    """
    with ApiClient.from_credentials() as api:
        s = api.get("/v1/onboarding/mail-settings")
    output.emit(s, lambda c: _settings_line(c, s))


@mail_app.command("set")
def settings_set_cmd(
    smtp_url: Annotated[
        str | None,
        typer.Option(
            envvar="QYLON_ORG_SMTP_URL",
            help="smtp://, smtp+starttls:// or smtps://USER:PASS@HOST:PORT ('' clears it).",
        ),
    ] = None,
    mail_from: Annotated[str | None, typer.Option("--from", help="The sender's address.")] = None,
    country: Annotated[str | None, typer.Option(help="For holidays, e.g. GB or US-CA.")] = None,
    time_zone: Annotated[str | None, typer.Option(help="Default zone, e.g. Europe/London.")] = None,
    json: output.JsonOption = False,
) -> None:
    """Set the organisation's relay, sender, holiday country or default time zone. The
    relay's URL holds a password: give it through QYLON_ORG_SMTP_URL rather than on the
    command line.

    Example: qylon onboarding mail-settings set --from onboarding@firm.example --country GB
    """
    body = {
        k: v
        for k, v in (
            ("smtp_url", smtp_url),
            ("mail_from", mail_from),
            ("country", country),
            ("time_zone", time_zone),
        )
        if v is not None
    }
    with ApiClient.from_credentials() as api:
        s = api.put("/v1/onboarding/mail-settings", body)
    output.emit(s, lambda c: _settings_line(c, s))
