"""`qylon plugins list`."""

from __future__ import annotations

import typer

from .. import output, plugins

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_(json: output.JsonOption = False) -> None:
    """List plugins with their package, version and hooks, and those that failed to load with the error.

    Example: qylon plugins list --json
    """
    rows = plugins.describe()

    def human(console, rows) -> None:
        from rich.markup import escape
        from rich.table import Table

        table = Table("name", "package", "version", "hooks", box=None)
        for row in rows:
            hooks = (
                ", ".join(row["hooks"])
                if row["error"] is None
                else f"[red]failed: {escape(row['error'])}[/red]"
            )
            table.add_row(row["name"], row["package"] or "", row["version"] or "", hooks)
        console.print(table if rows else "No plugins loaded.")

    output.emit_list(rows, human)
