"""`qylon plugins list`."""

from __future__ import annotations

import typer

from .. import output, plugins

app = typer.Typer(help="Show installed plugins.\n\nExample: qylon plugins list", no_args_is_help=True)


@app.command("list")
def list_(json: output.JsonOption = False) -> None:
    """List loaded plugins with their package, version and hooks.

    Example: qylon plugins list --json
    """
    rows = plugins.describe()

    def human(console) -> None:
        from rich.table import Table

        table = Table("name", "package", "version", "hooks", box=None)
        for row in rows:
            table.add_row(row["name"], row["package"] or "", row["version"] or "", ", ".join(row["hooks"]))
        console.print(table if rows else "No plugins loaded.")

    output.emit(rows, human)
