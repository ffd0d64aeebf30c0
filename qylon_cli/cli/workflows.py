"""`qylon workflows ...`: workflow definitions, checked offline, and their runs on the
team server (over the API)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import output, paging

app = typer.Typer(
    no_args_is_help=True,
)


def _render(console, items: list[dict]) -> None:
    from rich.markup import escape

    for item in items:
        if item["valid"]:
            console.print(
                f"[green]ok[/] {escape(item['file'])}: {escape(item['name'])} "
                f"v{item['version']} (sha256 {item['sha256'][:12]})"
            )
            continue
        for error in item["errors"]:
            where = item["file"] if error["line"] is None else f"{item['file']}:{error['line']}"
            field = f"{error['field']}: " if error["field"] else ""
            console.print(f"{escape(where)}: {escape(field + error['message'])}", markup=True)


@app.command()
def validate(
    files: Annotated[
        list[Path],  # a Path, so that shells complete file names
        typer.Argument(
            metavar="FILE",
            help="Definition files (YAML); '-' reads standard input.",
            show_default=False,
        ),
    ],
    json: output.JsonOption = False,
) -> None:
    """Check workflow definitions offline: the format, durations, step names, templates
    and what they refer to. Nothing is sent anywhere.

    Each error names the file, the line and the field:

    \b
      offboard.yaml:14: steps[2].retry.max_attempts: must be at least 1

    Exit 0 when every file is valid, 3 when any is not (the JSON error document then
    lists every file, as the data document would), 2 when a file does not exist.

    Example: qylon workflows validate config/workflows/*.yaml --json
    """
    import sys

    from ..errors import UsageError
    from ..workflow_defs import WorkflowInvalid, check, check_file

    names = [str(f) for f in files]
    missing = [n for n in names if n != "-" and not Path(n).is_file()]
    if missing:
        raise UsageError(
            f"No such file: {', '.join(missing)}.", hint="Give the paths of YAML definitions."
        )
    if names.count("-") > 1:
        raise UsageError("Standard input ('-') can be read once.")
    results = [
        check(sys.stdin.buffer.read(), "<stdin>") if n == "-" else check_file(n) for n in names
    ]
    items = [r.to_dict() for r in results]
    bad = [r for r in results if not r.valid]
    if bad:
        if not output.json_mode():
            _render(output.stdout(), items)
        count = sum(len(r.problems) for r in bad)
        raise WorkflowInvalid(
            f"{len(bad)} of {len(files)} definition(s) invalid ({count} error(s)).",
            hint="Fix the lines listed; docs/workflows.md describes the format.",
            details={"items": items, "total": len(items), "limit": None, "offset": 0},
        )
    output.emit_list(items, _render)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a workflow definition (also in docs/workflow.schema.json).

    Editors that read JSON Schema (VS Code's YAML extension, JetBrains IDEs) then check
    definitions as you type; `qylon workflows validate` checks more (templates, step
    references, duplicate keys).

    Example: qylon workflows schema > workflow.schema.json
    """
    import json as jsonlib
    import sys

    from ..workflow_defs import json_schema

    sys.stdout.write(jsonlib.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")


RunArg = Annotated[str, typer.Argument(metavar="RUN", help="A run's id.", show_default=False)]
WaitTimeout = Annotated[
    float, typer.Option(min=1, help="With --wait: give up after this many seconds.")
]
TERMINAL = ("completed", "compensated", "cancelled", "timed_out", "failed")


def _definitions(c, items: list[dict], total: int | None = None) -> None:
    from rich.table import Table

    if not items:
        c.print("No workflows uploaded.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Name", "Version", "Description", "Uploaded"):
        table.add_column(col)
    for i in items:
        table.add_row(i["name"], str(i["version"]), i.get("description") or "", i["created_at"])
    c.print(table)
    if total is not None and total > len(items):
        c.print(f"[dim]{len(items)} of {total}; use --limit/--offset for more.[/]")


def _runs(c, items: list[dict], total: int | None = None) -> None:
    from rich.table import Table

    if not items:
        c.print("No runs.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Run", "Workflow", "Subject", "Status", "Started", "Error"):
        table.add_column(col)
    for i in items:
        table.add_row(
            i["id"],
            f"{i['name']} v{i['version']}",
            i.get("subject") or "",
            i["status"],
            i["created_at"],
            i.get("error") or "",
        )
    c.print(table)
    if total is not None and total > len(items):
        c.print(f"[dim]{len(items)} of {total}; use --limit/--offset for more.[/]")


def _run(c, run: dict) -> None:
    from rich.markup import escape

    c.print(f"[bold]{escape(run['name'])}[/] v{run['version']}  {run['id']}: {run['status']}")
    if run.get("error"):
        c.print(f"Error: {escape(run['error'])}")
    for step in run.get("steps") or []:
        line = f"  {step['name']}: {step['status']}"
        if step.get("attempts", 0) > 1:
            line += f" ({step['attempts']} attempts)"
        if step.get("error"):
            line += f" ({step['error'].get('code')}: {step['error'].get('message')})"
        c.print(escape(line))


def _changes(before: dict | None, after: dict) -> list[str]:
    """Plain lines for what changed in a run since ``before`` (logs, no terminal)."""
    old = {s["name"]: s for s in (before or {}).get("steps") or []}
    lines = []
    for step in after.get("steps") or []:
        seen = old.get(step["name"])
        if seen is None or (seen["status"], seen.get("attempts")) != (
            step["status"],
            step.get("attempts"),
        ):
            error = step.get("error") or {}
            detail = f" ({error.get('code')}: {error.get('message')})" if error else ""
            tries = f", attempt {step['attempts']}" if step.get("attempts", 0) > 1 else ""
            lines.append(f"{after['id']}: {step['name']}: {step['status']}{tries}{detail}")
    if before is None or before["status"] != after["status"]:
        lines.append(f"{after['id']}: {after['status']}")
    return lines


def _follow(api, item: dict, timeout: float) -> dict:
    """Poll a run until it ends, showing its steps live on a terminal (plain lines on
    stderr otherwise); the last state of the run."""
    import sys
    import time

    from ..errors import Unavailable
    from ..progress import on_terminal

    deadline = time.monotonic() + timeout
    live = None
    if on_terminal() and not output.json_mode():
        from rich.live import Live

        from ..output import stderr

        live = Live(console=stderr(), auto_refresh=False, transient=True)
        live.start()
    shown: dict | None = None
    try:
        while True:
            if live is not None:
                from rich.console import Group
                from rich.text import Text

                lines = [f"{item['name']} v{item['version']}  {item['id']}: {item['status']}"]
                lines += [f"  {s['name']}: {s['status']}" for s in item.get("steps") or []]
                live.update(Group(*(Text(line) for line in lines)), refresh=True)
            else:
                for line in _changes(shown, item):
                    sys.stderr.write(line + "\n")
                sys.stderr.flush()
                shown = item
            if item["status"] in TERMINAL:
                return item
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"Run {item['id']} is still {item['status']} after {timeout:g}s.",
                    hint=f"Follow it with `qylon workflows status {item['id']} --wait`; "
                    "a server runs workflows only with an executor (docs/workflows.md).",
                )
            time.sleep(0.5)
            item = api.get(f"/v1/workflow-runs/{item['id']}")
    finally:
        if live is not None:
            live.stop()


def _act(run_id: str, verb: str, wait: bool, timeout: float) -> dict:
    """POST /v1/workflow-runs/RUN/VERB; with ``wait``, the run once it has ended."""
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        item = api.post(f"/v1/workflow-runs/{run_id}/{verb}", {})
        return _follow(api, item, timeout) if wait else item


def _outcome(item: dict) -> None:
    """Print the run; exit 1 (the run's status as the error code) unless it completed."""
    from ..errors import QylonError

    if item["status"] != "completed":
        if not output.json_mode():
            _run(output.stdout(), item)
        raise QylonError(
            f"Run {item['id']} ended {item['status']}: {item.get('error')}",
            code=f"run_{item['status']}",
            hint=f"See `qylon workflows history {item['id']}`; "
            f"`qylon workflows resume {item['id']}` goes on where it stopped.",
        )
    output.emit(item, lambda c: _run(c, item))


@app.command()
def upload(
    file: Annotated[
        Path | None,
        typer.Argument(metavar="[FILE]", help="A definition (YAML).", show_default=False),
    ] = None,
    plugin: Annotated[
        str | None,
        typer.Option(
            "--plugin",
            metavar="NAME",
            help="Upload the definition an installed plugin ships under this name.",
        ),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Upload a definition to the team server (checked there as `validate` checks it, and
    its actions must exist on the server). A name's `version:` is stored once: upload the
    same file again and nothing changes; change it and raise `version:`. With --plugin,
    the definition comes from an installed plugin (`qylon plugins list` names them).

    Example: qylon workflows upload config/workflows/offboard-consultant.yaml
    """
    from ..client import ApiClient
    from ..errors import UsageError

    if (file is None) == (plugin is None):
        raise UsageError(
            "Give a FILE or --plugin NAME (one of them).",
            hint="e.g. `qylon workflows upload config/workflows/offboard-consultant.yaml`.",
        )
    if plugin is not None:
        from .. import plugins

        shipped = plugins.workflows()
        if plugin not in shipped:
            raise UsageError(
                f"No installed plugin ships a workflow named {plugin!r}.",
                hint=f"Shipped: {', '.join(sorted(shipped)) or 'none'}.",
            )
        text = plugins.workflow_text(plugin)
    else:
        if not file.is_file():
            raise UsageError(f"No such file: {file}.", hint="Give the path of a YAML definition.")
        text = file.read_bytes().decode("utf-8-sig", "replace")
    with ApiClient.from_credentials() as api:
        item = api.post("/v1/workflows", {"text": text})
    output.emit(
        item,
        lambda c: c.print(f"Uploaded [bold]{item['name']}[/] v{item['version']} ({item['id']})."),
    )


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="The workflow's name.", show_default=False)],
    version: Annotated[
        int | None, typer.Option(min=1, help="A version (default: the newest).")
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Show a definition uploaded to the team server, with its YAML text.

    Example: qylon workflows show offboard-consultant --version 2
    """
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        item = api.get(f"/v1/workflows/{name}", version=version)

    def render(c) -> None:
        from rich.syntax import Syntax

        c.print(f"[bold]{item['name']}[/] v{item['version']}  sha256 {item['sha256'][:12]}")
        c.print(
            f"Uploaded {item['created_at']}"
            + (f": {item['description']}" if item.get("description") else "")
        )
        c.print(Syntax(item["text"], "yaml", background_color="default"))

    output.emit(item, render)


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Option(help="Only this workflow's versions.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many.")] = 0,
    paginate: paging.PaginateOption = False,
    json: output.JsonOption = False,
) -> None:
    """List the definitions uploaded to the team server, newest version first.

    Example: qylon workflows list --json
    """
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        page = paging.fetch(
            api, "/v1/workflows", paginate=paginate, limit=limit, offset=offset, name=name
        )
    paging.emit(page, _definitions)


@app.command()
def run(
    name: Annotated[str, typer.Argument(help="The workflow's name.", show_default=False)],
    input_: Annotated[str, typer.Option("--input", help="The run's input, a JSON object.")] = "{}",
    version: Annotated[
        int | None, typer.Option(min=1, help="A version (default: the newest).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run ends.")] = False,
    timeout: WaitTimeout = 600,
    json: output.JsonOption = False,
) -> None:
    """Start a run on the team server. It is queued and runs there; --wait follows it to
    its end (exit 1 unless it completed). A retried request never starts a second run
    (each call sends its own Idempotency-Key).

    Example: qylon workflows run offboard-consultant --input '{"email": "ana@firm.example"}' --wait
    """
    import json as jsonlib
    import uuid

    from ..client import ApiClient
    from ..errors import InvalidInput

    try:
        inputs = jsonlib.loads(input_)
    except ValueError as exc:
        raise InvalidInput(f"--input is not JSON: {exc}.") from None
    if not isinstance(inputs, dict):
        raise InvalidInput('--input must be a JSON object, e.g. \'{"email": "a@b.example"}\'.')
    body = {"input": inputs} | ({"version": version} if version else {})
    with ApiClient.from_credentials() as api:
        item = api.request(
            "POST",
            f"/v1/workflows/{name}/runs",
            json=body,
            headers={"Idempotency-Key": f"cli-{uuid.uuid4()}"},
            idempotent=True,
        )
        if wait:
            item = _follow(api, api.get(f"/v1/workflow-runs/{item['id']}"), timeout)
    if wait:
        _outcome(item)
        return
    output.emit(item, lambda c: _run(c, item))


@app.command()
def runs(
    status: Annotated[
        str | None,
        typer.Option(
            help="Only runs in this state: enqueued, running, completed, compensated, "
            "cancelled, timed_out, failed (failed runs need attention)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    subject: Annotated[
        str | None,
        typer.Option(help="Only runs about this (a definition's `subject:`, e.g. an email)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many.")] = 0,
    paginate: paging.PaginateOption = False,
    json: output.JsonOption = False,
) -> None:
    """List runs on the team server, newest first.

    Example: qylon workflows runs --status failed --subject ana@firm.example
    """
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        page = paging.fetch(
            api,
            "/v1/workflow-runs",
            paginate=paginate,
            limit=limit,
            offset=offset,
            status=status,
            name=name,
            subject=subject,
        )
    paging.emit(page, _runs)


@app.command()
def status(
    run_id: RunArg,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run until it ends (exit 1 unless completed).")
    ] = False,
    timeout: WaitTimeout = 600,
    json: output.JsonOption = False,
) -> None:
    """Show one run and each step's status, attempts and error (--json: outputs too).

    Example: qylon workflows status run-4f1c0d2e-... --wait
    """
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        item = api.get(f"/v1/workflow-runs/{run_id}")
        if wait:
            item = _follow(api, item, timeout)
    if wait:
        _outcome(item)
        return
    output.emit(item, lambda c: _run(c, item))


@app.command()
def cancel(
    run_id: RunArg,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run has stopped.")] = False,
    timeout: WaitTimeout = 600,
    json: output.JsonOption = False,
) -> None:
    """Cancel a run: it stops before its next step or attempt (a wait or a retry's
    backoff ends at once), the steps it completed are undone (their `compensate`, newest
    first), and it ends `cancelled`. A finished run cannot be cancelled (exit 3).

    Example: qylon workflows cancel run-4f1c0d2e-... --wait
    """
    item = _act(run_id, "cancel", wait, timeout)
    output.emit(
        item,
        lambda c: c.print(
            f"Run {item['id']} is {item['status']}."
            if wait
            else f"Asked run {item['id']} to stop; it is {item['status']} "
            f"(follow it with `qylon workflows status {item['id']} --wait`)."
        ),
    )


@app.command()
def resume(
    run_id: RunArg,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
    timeout: WaitTimeout = 600,
    json: output.JsonOption = False,
) -> None:
    """Go on with a run that stopped. A failed, cancelled or timed-out run whose steps
    were not undone goes on from the step that stopped it (its timeout counts again from
    now); a failed run whose compensation failed retries that compensation and those
    after it; a run the engine gave up on restarts from its last checkpoint. A run that
    was undone or completed cannot be resumed (exit 3): start a new one.

    Example: qylon workflows resume run-4f1c0d2e-... --wait
    """
    item = _act(run_id, "resume", wait, timeout)
    if wait:
        _outcome(item)
        return
    output.emit(item, lambda c: c.print(f"Resumed run {item['id']} ({item['status']})."))


@app.command()
def signal(
    run_id: RunArg,
    name: Annotated[
        str, typer.Argument(metavar="SIGNAL", help="The signal's name.", show_default=False)
    ],
    payload: Annotated[
        str, typer.Option(help="What the waiting step gets as its output (JSON).")
    ] = "null",
    json: output.JsonOption = False,
) -> None:
    """Send a signal to a run: its `wait_for` step for that signal goes on, with the
    payload as its output. The signal `clock` ends a `sleep` early.

    Example: qylon workflows signal run-4f1c0d2e-... summary_approved --payload '{"by": "ana"}'
    """
    import json as jsonlib

    from ..client import ApiClient
    from ..errors import InvalidInput

    try:
        body = {"payload": jsonlib.loads(payload)}
    except ValueError as exc:
        raise InvalidInput(f"--payload is not JSON: {exc}.") from None
    with ApiClient.from_credentials() as api:
        item = api.post(f"/v1/workflow-runs/{run_id}/signal/{name}", body)
    output.emit(item, lambda c: c.print(f"Sent {name} to {item['id']} ({item['status']})."))


@app.command()
def history(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run's id.", show_default=False)],
    json: output.JsonOption = False,
) -> None:
    """Show a run's events in order: when it was queued and started, each step's attempts,
    outcome and compensation, how it ended, and (for admins, who may read every stream)
    what its steps changed: the users deactivated and reactivated, ... .

    Example: qylon workflows history run-4f1c0d2e-... --json
    """
    from ..client import ApiClient
    from ..errors import NotAllowed
    from .events import table

    items: list[dict] = []
    with ApiClient.from_credentials() as api:
        # every event the run caused (its own and those of the users, keys and items its
        # steps changed) needs events:read; without it, the run's own stream
        where = {"correlation_id": run_id}
        after = 0
        while True:
            try:
                page = api.get("/v1/events", **where, after=after, limit=1000)
            except NotAllowed:
                if "stream" in where:
                    raise
                where, after, items = {"stream": f"workflow_run:{run_id}"}, 0, []
                continue
            items += page["items"]
            if len(page["items"]) < 1000:
                break
            after = page["next"]
        if not items:
            api.get(f"/v1/workflow-runs/{run_id}")  # no such run: its 404
    output.emit_list(items, lambda c, shown: table(c, shown, stream="stream" not in where))
