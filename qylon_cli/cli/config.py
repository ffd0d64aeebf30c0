"""`qylon config show|get|set|unset|path`."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import output, settings

app = typer.Typer(
    no_args_is_help=True,
)


@app.command("show")
def show(json: output.JsonOption = False) -> None:
    """Every setting with its value and where it comes from (default, config, env).

    Example: qylon config show --json
    """
    values = settings.load().all()
    data = [{"key": v.key, "value": v.value, "source": v.source} for v in values]

    def human(console, rows) -> None:
        from rich.table import Table

        table = Table("key", "value", "source", box=None)
        for row in rows:
            table.add_row(row["key"], repr(row["value"]), row["source"])
        console.print(table)

    output.emit_list(data, human)


@app.command("get")
def get(
    key: Annotated[str, typer.Argument(help="A dotted key such as transcribe.model.")],
    json: output.JsonOption = False,
) -> None:
    """Print one setting.

    Example: qylon config get transcribe.model
    """
    value = settings.load().lookup(key)
    output.emit(
        {"key": key, "value": value.value, "source": value.source},
        lambda c: c.print(str(value.value)),
    )


@app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="A dotted key such as transcribe.model.")],
    value: Annotated[str, typer.Argument(help="The new value.")],
    json: output.JsonOption = False,
) -> None:
    """Write a setting to your config file, after checking it: its type, and for some keys
    more (a model folder must hold a CTranslate2 model, a URL must be http(s), a device one
    of cpu, cuda, auto). Plugins' keys (`qylon config show` lists them) are set the same way.

    Example: qylon config set models.small /opt/models/faster-whisper-small
    """
    result = settings.load().set(key, value)
    output.emit({"key": key, "value": result.value}, lambda c: c.print(f"{key} = {result.value!r}"))


@app.command("unset")
def unset(
    key: Annotated[str, typer.Argument(help="A dotted key.")], json: output.JsonOption = False
) -> None:
    """Remove a setting from your config file (the default applies again).

    Example: qylon config unset transcribe.beam_size
    """
    settings.load().unset(key)
    output.emit({"key": key}, lambda c: c.print(f"{key} unset"))


@app.command("path")
def path(json: output.JsonOption = False) -> None:
    """Print where your config file is (it may not exist yet).

    Example: qylon config path
    """
    file = settings.load().file
    output.emit({"path": str(file), "exists": file.exists()}, lambda c: c.print(str(file)))
