"""The root Typer app: composes the host's groups and those that plugins register."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__, output, plugins
from ..errors import MissingPart
from . import api, completion, finish

# Command groups that belong to parts installed separately, and the extra that brings each.
PARTS = {
    "meeting": ("agent", "Record, transcribe, search and export meetings."),
    "speakers": ("agent", "Voice profiles for naming speakers."),
    "models": ("agent", "Whisper models for transcription."),
    "agent": ("agent", "The local background agent."),
    "sync": ("agent", "Push meetings to the team server and pull its client list."),
    "server": ("server", "Run and administer the team server."),
    "users": ("admin", "Users on the team server, one at a time or in bulk from a CSV."),
    "groups": ("admin", "Groups of users on the team server."),
    "audit": ("admin", "The team server's audit trail."),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qylon {__version__}")
        raise typer.Exit()


def _add_missing(app: typer.Typer, name: str, part: str, help_text: str) -> None:
    """A stand-in for a part that is not installed: any use names the extra to install."""

    @app.command(
        name,
        help=f"{help_text} (needs qylon[{part}])",
        short_help=f"{help_text.rstrip('.')} (needs qylon[{part}]).",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def missing(ctx: typer.Context) -> None:
        if "--json" in ctx.args:
            output._remember_json(True)
        raise MissingPart(part, f"`qylon {name}`")


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="qylon",
        help="Qylon: meeting intelligence for consultancies, on your own device.\n\n"
        "Example: qylon meeting transcribe call.m4a --client Acme",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        add_completion=False,
    )

    @app.callback()
    def root(
        version: Annotated[
            bool,
            typer.Option(
                "--version", help="Show the version and exit.", callback=_version, is_eager=True
            ),
        ] = False,
    ) -> None:
        """Qylon: meeting intelligence for consultancies, on your own device."""

    registered: dict[str, plugins.Registration] = {}
    pending: list[finish.Pending] = []

    def register_for(plugin: str):
        def register(group: typer.Typer | str, *, name: str, help: str | None = None) -> None:
            plugins.claim(registered, "command", plugins.Registration(name, plugin))
            if isinstance(group, str) and help:
                pending.append(finish.Pending(name, group, help, plugin))
            else:
                app.add_typer(plugins.resolve(group), name=name, **({"help": help} if help else {}))

        return register

    plugins.host().call("register_commands", register_for)
    app.command("completion")(completion.completion)
    app.command("api")(api.api)
    app.info.cls = finish.root_class(pending)
    for name, (part, help_text) in PARTS.items():
        if name not in registered:
            _add_missing(app, name, part, help_text)
    return app
