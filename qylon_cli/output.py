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

_state: dict[str, Any] = {"json": False, "jq": None}


def _remember_json(value: bool) -> bool:
    if value:
        _state["json"] = True
    return value


def _remember_jq(value: str | None) -> str | None:
    """``--jq EXPR`` (added to every command with --json): checked now, so a bad expression
    is a usage error before the command does anything; implies --json."""
    if value is not None:
        _state["json"] = True
        _state["jq"] = _compile_jq(value)
    return value


def _compile_jq(expression: str):
    import jq

    from .errors import UsageError

    try:
        return jq.compile(expression)
    except ValueError as exc:
        raise UsageError(
            f"--jq: {_jq_message(exc)}",
            hint="See https://jqlang.org/manual/ ; e.g. --jq '.data.items[].email'.",
        ) from None


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


def jq_active() -> bool:
    return _state["jq"] is not None


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
    """Print a command's result: JSON when --json was given (filtered by --jq when given),
    else ``human(console)``."""
    if _state["jq"] is not None:
        _write_jq({"data": json.loads(dumps(data))})
        return
    if _state["json"] or human is None:
        sys.stdout.write(dumps({"data": data}) + "\n")
        sys.stdout.flush()
        return
    human(stdout())


def emit_raw(document: Any) -> None:
    """Print a document as it is, not wrapped in ``{"data": ...}`` (`qylon api`); --jq applies."""
    if _state["jq"] is not None:
        _write_jq(document)
        return
    sys.stdout.write(dumps(document) + "\n")
    sys.stdout.flush()


def emit_list(
    items: list,
    human: Callable[[Any], None] | None = None,
    *,
    total: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> None:
    """Print a list, in the one shape every list command uses in --json (the server's page):
    ``{"items": [...], "total": N, "limit": L or null, "offset": O}``. ``human`` gets the
    console and the items."""
    page = {
        "items": items,
        "total": len(items) if total is None else total,
        "limit": limit,
        "offset": offset,
    }
    emit(page, None if human is None else lambda console: human(console, items))


def _jq_message(exc: ValueError) -> str:
    return str(exc).splitlines()[0].removeprefix("jq: error: ").rstrip(":")


def _write_jq(document: Any) -> None:
    from .errors import UsageError

    try:
        results = _state["jq"].input_value(document).all()
    except ValueError as exc:
        raise UsageError(f"--jq: {_jq_message(exc)}") from None
    for result in results:
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        sys.stdout.write(text + "\n")
    sys.stdout.flush()


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
