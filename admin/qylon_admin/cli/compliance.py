"""`qylon compliance validate|upload|policies|assign|status|complete|evidence|withdraw|redate|
report|link`: compliance policies and what each person must complete, on the team server
(docs/compliance.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.client import ApiClient

app = typer.Typer(
    no_args_is_help=True,
)

FileArg = Annotated[Path, typer.Argument(help="A policy file (YAML).", show_default=False)]


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="Policy files (YAML).", show_default=False, metavar="FILE")], json: output.JsonOption = False) -> None:  # fmt: skip
    """Check policy files offline; each error names the file, the line and the field
    (exit 3 when any file is invalid).

    Example: qylon compliance validate config/compliance/*.yaml
    """
    from qylon_cli.compliance_policy import PolicyInvalid, check_file

    results = [check_file(f) for f in files]
    items = [r.to_dict() for r in results]
    bad = [r for r in results if not r.valid]
    if bad:
        lines = [p.format(r.source) for r in bad for p in r.problems]
        raise PolicyInvalid(
            "\n".join(lines[:20]),
            hint="docs/compliance.md describes the format.",
            details={"items": items},
        )
    output.emit_list(items, lambda c, xs: [c.print(f"{x['file']}: valid") for x in xs])


@app.command()
def upload(file: FileArg, json: output.JsonOption = False) -> None:
    """Upload a version of a policy (checked first); the same text again changes nothing.

    Example: qylon compliance upload config/compliance/gdpr-consultant-onboarding.yaml
    """
    from qylon_cli.compliance_policy import load

    text = file.read_text(encoding="utf-8")
    load(text, str(file))  # errors with this file's name and lines, before sending
    with ApiClient.from_credentials() as api:
        row = api.post("/v1/compliance/policies", {"text": text})
    verb = "Uploaded" if row.get("created") else "Unchanged:"
    output.emit(row, lambda c: c.print(f"{verb} {row['name']} v{row['version']}", markup=False))


@app.command()
def policies(json: output.JsonOption = False) -> None:
    """List every version of every policy.

    Example: qylon compliance policies --json
    """
    with ApiClient.from_credentials() as api:
        rows = api.get("/v1/compliance/policies")

    def draw(c, items):
        for p in items:
            frameworks = ", ".join(p["frameworks"])
            c.print(f"{p['name']} v{p['version']}  {p['title']}  [{frameworks}]", markup=False)

    output.emit_list(rows, draw)


@app.command()
def assign(
    policy: Annotated[str, typer.Option(help="The policy's name.", show_default=False)],
    user: Annotated[list[str] | None, typer.Option(help="A person's email (repeat).")] = None,
    team: Annotated[str | None, typer.Option(help="Everyone in this team.")] = None,
    group: Annotated[str | None, typer.Option(help="Everyone in this group.")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Everyone active.")] = False,
    start: Annotated[str | None, typer.Option(help="Start date (YYYY-MM-DD) for all.")] = None,
    client: Annotated[list[str] | None, typer.Option(help="A client they work for.")] = None,
    version: Annotated[int | None, typer.Option(min=1, help="Not the newest version.")] = None,
    json: output.JsonOption = False,
) -> None:
    """Assign a policy's items to people (items they already have stay as they are);
    deadlines count from each person's start date.

    Example: qylon compliance assign --policy gdpr-consultant-onboarding --user ana@firm.example
    """
    body = {"policy": policy, "version": version, "users": user or None, "team": team,
            "group": group, "all": everyone, "start_date": start, "clients": client or []}  # fmt: skip
    with ApiClient.from_credentials() as api:
        done = api.post("/v1/compliance/assignments", body)

    def draw(c):
        c.print(f"Assigned {len(done['assigned'])} item(s) of {done['policy']} v{done['version']}; "
                f"{done['unchanged']} already assigned.", markup=False)  # fmt: skip
        for a in done["assigned"]:
            c.print(f"  {a['email']}  {a['item']}  due {a['due_date']}", markup=False)

    output.emit(done, draw)


def _table(c, items: list[dict]) -> None:
    from rich.table import Table
    from rich.text import Text

    if not items:
        c.print("No items.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Person", "Item", "Status", "Due", "Overdue", "Id"):
        table.add_column(col)
    for i in items:
        late = f"{i['overdue_days']}d" if i["overdue_days"] else ""
        table.add_row(
            Text(i["email"] or ""), Text(i["item"]), i["status"], i["due_date"], late, i["id"][:8]
        )  # the id's start, as `git log --oneline` shows: every ITEM argument takes it
    c.print(table)


def _item_id(api, given: str) -> str:
    """The full id of the item ``given`` names: a whole id, or the start of one that
    only one of the items you can see has (``status`` shows the first 8 characters)."""
    from qylon_cli.errors import NotFound, UsageError

    given = given.strip().lower()
    if len(given) >= 36:
        return given
    found = [i["id"] for i in api.get("/v1/compliance/items")["items"] if i["id"].startswith(given)]
    if len(found) == 1 and len(given) >= 4:
        return found[0]
    if not found:
        raise NotFound(
            f"No compliance item's id starts with {given!r}.",
            hint="`qylon compliance status` lists the items you can see, with their ids.",
        )
    if len(found) == 1:
        raise UsageError(
            f"{given!r} is too short: give at least 4 characters of the id.",
            hint=f"e.g. {found[0][:8]}",
        )
    raise UsageError(
        f"{given!r} starts {len(found)} items' ids: give more of it.",
        hint="Candidates: " + ", ".join(sorted(f[:12] for f in found)[:5]),
    )


@app.command()
def status(
    user: Annotated[str | None, typer.Option(help="One person (email).")] = None,
    team: Annotated[str | None, typer.Option(help="One team.")] = None,
    overdue: Annotated[bool, typer.Option(help="Only overdue items.")] = False,
    framework: Annotated[str | None, typer.Option(help="Only items of a framework.")] = None,
    json: output.JsonOption = False,
) -> None:
    """Items and their status (yours only, unless you are an admin).

    Example: qylon compliance status --team Delivery --overdue
    """
    params = {"user": user, "team": team, "overdue": overdue or None, "framework": framework}
    with ApiClient.from_credentials() as api:
        page = api.get("/v1/compliance/items", **params)
    output.emit_list(page["items"], _table)


def _content_type(path: Path) -> str:
    import mimetypes

    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@app.command()
def complete(
    item: Annotated[str, typer.Argument(help="The item's id, or its first characters (`status` shows them).", show_default=False)],
    evidence: Annotated[Path | None, typer.Option(help="The evidence file.", exists=True, dir_okay=False)] = None,
    accept: Annotated[bool, typer.Option(help="Accept the document (acknowledge items).")] = False,
    json: output.JsonOption = False,
) -> None:  # fmt: skip
    """Complete an item with its evidence (its SHA-256 is recorded), or accept its document.

    Example: qylon compliance complete 3f2a1b9c --evidence certificate.pdf
    """
    import base64

    from qylon_cli.errors import UsageError

    if (evidence is None) == (not accept):
        raise UsageError("Give --evidence FILE or --accept (one of them).")
    body: dict = {"acknowledge": True}
    if evidence is not None:
        body = {
            "content_base64": base64.b64encode(evidence.read_bytes()).decode(),
            "content_type": _content_type(evidence),
            "filename": evidence.name,
        }
    with ApiClient.from_credentials() as api:
        done = api.post(f"/v1/compliance/items/{_item_id(api, item)}/complete", body)
    output.emit(
        done,
        lambda c: c.print(
            f"Completed {done['item']} (sha256 {done['evidence_sha256']})", markup=False
        ),
    )


ItemArg = Annotated[str, typer.Argument(help="The item's id, or its first characters (`status` shows them).", show_default=False)]  # fmt: skip


@app.command()
def evidence(
    item: ItemArg,
    out: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (default: the uploaded file's name, here).")] = None,
    json: output.JsonOption = False,
) -> None:  # fmt: skip
    """Download the evidence file of a completed item and check its SHA-256 against the
    one recorded when it was uploaded (exit 1, and nothing written, when they differ).
    Your own items, or anyone's as an admin.

    Example: qylon compliance evidence 3f2a1b9c -o certificate.pdf
    """
    import hashlib

    from qylon_cli.client import error_from
    from qylon_cli.errors import QylonError, UsageError

    with ApiClient.from_credentials() as api:
        item = _item_id(api, item)
        response = api.send("GET", f"/v1/compliance/items/{item}/evidence")
        if response.status_code >= 400:
            raise error_from(response, api.server)
    content, stored = response.content, response.headers.get("X-Evidence-SHA256", "")
    digest = hashlib.sha256(content).hexdigest()
    if digest != stored.lower():
        raise QylonError(
            f"The evidence file's SHA-256 is {digest}, not the {stored or 'no'} hash recorded "
            "when it was uploaded: it was changed or damaged. Nothing was written.",
            code="checksum_mismatch",
            hint="Report it to your Qylon administrator; the audit log names who uploaded it.",
        )
    if out is None:
        out = Path(_filename(response.headers.get("Content-Disposition", ""), item))
        if out.exists():
            raise UsageError(f"{out} exists already.", hint="Choose the file with -o FILE.")
    out.write_bytes(content)
    done = {"item": item, "path": str(out), "size": len(content), "sha256": digest,
            "content_type": response.headers.get("Content-Type")}  # fmt: skip
    output.emit(done, lambda c: c.print(f"Wrote {out} ({len(content)} bytes, sha256 {digest}, verified).", markup=False))  # fmt: skip


def _filename(disposition: str, item: str) -> str:
    """The plain ``filename="..."`` of a Content-Disposition, reduced to a bare name."""
    import re

    found = re.search(r'filename="([^"]*)"', disposition)
    name = Path(found[1]).name if found else ""
    return name if name and name not in (".", "..") else f"{item}.evidence"


@app.command()
def withdraw(
    item: ItemArg,
    reason: Annotated[str, typer.Option(help="Why it is no longer needed (recorded).", show_default=False)],
    json: output.JsonOption = False,
) -> None:  # fmt: skip
    """Withdraw an assigned item (admins): it needs nothing more, is never overdue, does
    not count as open in reports, and its escalation stops.

    Example: qylon compliance withdraw 3f2a1b9c --reason "Not on client work"
    """
    with ApiClient.from_credentials() as api:
        done = api.post(f"/v1/compliance/items/{_item_id(api, item)}/withdraw", {"reason": reason})
    output.emit(done, lambda c: c.print(f"Withdrew {done['item']} of {done['email']}.", markup=False))  # fmt: skip


@app.command()
def redate(
    item: ItemArg,
    due: Annotated[str, typer.Option(help="The new due date, YYYY-MM-DD.", show_default=False)],
    reason: Annotated[str | None, typer.Option(help="Why (recorded).")] = None,
    json: output.JsonOption = False,
) -> None:  # fmt: skip
    """Give an open item a new due date (admins): its status and its escalation reminders
    count from the new date.

    Example: qylon compliance redate 3f2a1b9c --due 2027-01-15
    """
    with ApiClient.from_credentials() as api:
        item = _item_id(api, item)
        done = api.post(f"/v1/compliance/items/{item}/redate", {"due_date": due, "reason": reason})
    output.emit(done, lambda c: c.print(f"{done['item']} of {done['email']} is due {done['due_date']}.", markup=False))  # fmt: skip


@app.command()
def report(
    framework: Annotated[str, typer.Option(help="GDPR, 'ISO 27001', 'SOC 2' or HIPAA.", show_default=False)],
    format: Annotated[str, typer.Option("--format", help="csv, md or pdf.")] = "md",
    out: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    json: output.JsonOption = False,
) -> None:  # fmt: skip
    """A framework's report: every item that counts for it, by person, with evidence
    hashes. --json gives the report's data; a PDF needs --output.

    Example: qylon compliance report --framework GDPR --format pdf -o gdpr.pdf
    """
    import sys

    from qylon_cli.errors import UsageError

    if format not in ("csv", "md", "pdf"):
        raise UsageError("--format must be csv, md or pdf.")
    if format == "pdf" and out is None and not output.json_mode():
        raise UsageError("A PDF needs --output FILE.")
    with ApiClient.from_credentials() as api:
        if output.json_mode():
            output.emit(api.get("/v1/compliance/report", framework=framework))
            return
        response = api.send(
            "GET", "/v1/compliance/report", params={"framework": framework, "format": format}
        )
        if response.status_code >= 400:
            from qylon_cli.client import error_from

            raise error_from(response, api.server)
    if out is not None:
        out.write_bytes(response.content)
        output.info(f"Wrote {out} ({len(response.content)} bytes).")
    else:
        sys.stdout.write(response.text)


@app.command()
def link(
    user: Annotated[str, typer.Option(help="The person's email.", show_default=False)],
    json: output.JsonOption = False,
) -> None:
    """A signed, expiring link to a person's checklist page, to send them.

    Example: qylon compliance link --user ana@firm.example
    """
    with ApiClient.from_credentials() as api:
        done = api.post("/v1/compliance/links", {"user": user})
    output.emit(done, lambda c: c.print(done["checklist"], markup=False, soft_wrap=True))
