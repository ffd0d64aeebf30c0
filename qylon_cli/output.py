"""One renderer for every command: Rich for people, ``{"data": ...}`` for ``--json``.

stdout holds the result and nothing else; progress, warnings and hints go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

_state = {"json": False}


def _remember_json(value: bool) -> bool:
    if value:
        _state["json"] = True
    return value


JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print exactly one JSON document on stdout: {"data": ...} or {"error": ...}.',
        callback=_remember_json,
    ),
]


def json_mode() -> bool:
    return _state["json"]


def interactive() -> bool:
    """True when it is fine to prompt: a terminal, no --json, not in CI."""
    return not _state["json"] and not os.environ.get("CI") and sys.stdin.isatty()


def confirm(question: str, *, yes: bool, action: str) -> None:
    """The one rule for destructive commands: ``--yes`` goes ahead; a terminal asks
    ``question`` (No aborts); without a terminal (or with --json, or in CI) it is a usage
    error (exit 2) naming --yes, and nothing is changed."""
    if yes:
        return
    if not interactive():
        from .errors import UsageError

        raise UsageError(
            f"{action} needs --yes when there is no terminal to confirm on.",
            hint="Add --yes (-y) to confirm.",
        )
    import typer

    typer.confirm(question, abort=True)


def stdout():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def dumps(document: Any) -> str:
    return json.dumps(document, default=_default, ensure_ascii=False, indent=2)


def emit(data: Any, human: Callable[[Any], None] | None = None) -> None:
    """Print a command's result: JSON when --json was given, else ``human(console)``."""
    if _state["json"] or human is None:
        sys.stdout.write(dumps({"data": data}) + "\n")
        sys.stdout.flush()
        return
    human(stdout())


def warn(message: str) -> None:
    stderr().print(f"[yellow]Warning:[/] {message}")


def info(message: str) -> None:
    stderr().print(message)


def error(err: dict) -> None:
    """Report an error: JSON on stdout in --json mode, a readable message on stderr always."""
    if _state["json"]:
        sys.stdout.write(dumps({"error": err}) + "\n")
        sys.stdout.flush()
        return
    console = stderr()
    from rich.markup import escape

    console.print(f"[bold red]Error:[/] {escape(err['message'])}")
    if err.get("hint"):
        console.print(f"[dim]{escape(err['hint'])}[/]")
