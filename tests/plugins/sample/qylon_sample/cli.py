"""`qylon sample hello`: a command group a plugin adds."""

from __future__ import annotations

import typer

from qylon_cli import output

app = typer.Typer(help="The test plugin's commands.", no_args_is_help=True)


@app.command()
def hello(name: str = "world", json: output.JsonOption = False) -> None:
    """Say hello (and show the plugin's portal id setting)."""
    from qylon_cli import settings

    data = {"hello": name, "portal_id": settings.load().get("sample.portal_id")}
    output.emit(data, lambda console: console.print(f"Hello, {name}!"))
