"""`qylon workflows ...`: workflow definitions (checked offline, for now)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import output

app = typer.Typer(
    help="Workflow definitions: check them and print their JSON Schema. Running them on "
    "the team server comes next.\n\n"
    "Example: qylon workflows validate config/workflows/*.yaml",
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
