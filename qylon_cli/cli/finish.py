"""What every command gets once the whole tree is built, whoever registered it.

- Help is plain text, never Rich markup: "[models]" and "[llm]" in a help text are words,
  not styles (Rich would eat them, in ``--help`` and in docs/cli.md); plain help also
  needs no Rich at start-up.
- Option types read as people read them in other tools' help: ``TEXT``, ``INTEGER``,
  ``PATH``, the choices themselves; nothing for a flag (Typer 0.29 shows ``<bool>``).
- Every command with ``--json`` also takes ``--jq EXPR`` (see ``output._remember_jq``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, ClassVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from .. import output

# Typer's own type labels (what it would show between < and >), as help shows them.
_TYPE_NAMES = {
    "str": "TEXT",
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "NUMBER",
    "float range": "NUMBER",
    "path": "PATH",
    "file": "FILE",
    "directory": "DIR",
    "datetime": "DATETIME",
    "UUID": "UUID",
}


def _label(param, ctx) -> str | None:
    """How a parameter's value is shown in help; None for a flag."""
    if param.metavar is not None:
        return param.metavar
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    raw = param.display_type(ctx)
    raw = raw[1:-1] if raw.startswith("<") and raw.endswith(">") else raw
    listed = raw.startswith("list[") and raw.endswith("]")
    if listed:
        raw = raw[5:-1]
    if param.type_descriptor.is_choice:
        label = raw
    else:
        label = _TYPE_NAMES.get(raw, raw.upper())
    return f"{label}..." if listed or param.nargs != 1 else label


def _option_label(self, ctx):
    return _label(self, ctx)


def _argument_label(self, ctx):
    return None  # the argument's name (its metavar, below) already says what it is


def _argument_usage(self) -> str:
    """``FILE`` when required, ``[FILE]`` when not (Typer 0.29 writes ``{FILE}``)."""
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return f"{name}..." if self.nargs != 1 else name


def _jq_placeholder(
    jq: Annotated[
        str | None,
        typer.Option(
            "--jq",
            metavar="EXPR",
            help="Filter the JSON output with a jq expression (implies --json); "
            "strings print bare, one result a line. Example: --jq '.data.items[].email'",
            callback=output._remember_jq,
            expose_value=False,
        ),
    ] = None,
) -> None:
    """Only here so Typer builds the --jq option the way it builds any other."""


_jq_option = None


def _jq() -> TyperOption:
    global _jq_option
    if _jq_option is None:
        from typer.main import get_command

        probe = typer.Typer()
        probe.command()(_jq_placeholder)
        _jq_option = next(p for p in get_command(probe).params if p.name == "jq")
    return _jq_option


def finish(command) -> None:
    """Apply the rules above to ``command`` and everything under it."""
    command.rich_markup_mode = None
    for param in command.params:
        if isinstance(param, TyperOption):
            param.display_type_rich = _option_label.__get__(param)
        elif isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = param.name.upper()
            param.display_type_rich = _argument_label.__get__(param)
            param._usage_display_name = _argument_usage.__get__(param)
    names = {opt for param in command.params for opt in getattr(param, "opts", ())}
    if "--json" in names and "--jq" not in names:
        help_at = next((i for i, p in enumerate(command.params) if p.name == "help"), None)
        command.params.insert(len(command.params) if help_at is None else help_at, _jq())
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            finish(sub)


class Pending(TyperCommand):
    """A command group registered as a ``"module:attr"`` name, not imported yet: the root's
    help lists it from the help given at registration, and only the group a command line
    names is imported and built (Typer otherwise builds all 140 commands' parameters, and
    their modules' imports, for every run: 0.1-0.2 s of `qylon meeting list`)."""

    def __init__(self, name: str, target: str, help: str, plugin: str) -> None:
        super().__init__(name=name, help=help)
        self.target = target
        self.plugin = plugin

    def load(self) -> TyperGroup:
        from typer.main import get_group_from_info
        from typer.models import TyperInfo

        from ..plugins import PluginError, resolve

        try:
            sub = resolve(self.target)
        except Exception as exc:
            raise PluginError(
                f"The command group {self.name!r} (plugin {self.plugin!r}) failed to load: "
                f"{type(exc).__name__}: {exc}",
                hint="Reinstall the plugin, or see `qylon plugins list`.",
            ) from exc
        group = get_group_from_info(
            TyperInfo(sub, name=self.name, help=self.help),
            pretty_exceptions_short=sub.pretty_exceptions_short,
            suggest_commands=sub.suggest_commands,
            rich_markup_mode=None,
        )
        finish(group)
        return group


class Root(TyperGroup):
    """The root group: once Typer has built the tree, finish every command in it; a pending
    group is built when a command line names it (``loaded`` builds them all, for docs)."""

    pending: tuple[Pending, ...] = ()  # set by ``root_class``

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for entry in self.pending:
            self.commands[entry.name] = entry
        self._listing = False
        finish(self)

    def list_commands(self, ctx) -> list[str]:
        return sorted(self.commands)

    def get_command(self, ctx, cmd_name: str):
        command = self.commands.get(cmd_name)
        if isinstance(command, Pending) and not self._listing:
            command = self.commands[cmd_name] = command.load()
        return command

    def format_commands(self, ctx, formatter) -> None:
        self._listing = True  # the listing needs each group's help line, not the group
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def loaded(self) -> Root:
        """This tree with every pending group built, and every deferred command."""
        for name in list(self.commands):
            command = self.get_command(None, name)
            if isinstance(command, Deferred):
                command.loaded()
        return self


class Deferred(TyperGroup):
    """A group whose commands from other modules are imported and built only when a
    command line names one of them (``deferred_class``): `qylon meeting list` then
    builds the six commands of its own module, not the twenty-odd of the group, and
    imports none of the others' modules. Help lists them all, and so builds them all."""

    order: ClassVar[tuple[str, ...]] = ()  # every command's name, in the order help lists them
    later: ClassVar[dict[str, Callable[[typer.Typer], None]]] = {}  # name -> registers its module's

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._registered: set = set()

    def list_commands(self, ctx) -> list[str]:
        return [name for name in self.order if name in self.commands or name in self.later]

    def get_command(self, ctx, cmd_name: str):
        register = self.later.get(cmd_name)
        if cmd_name not in self.commands and register not in (None, *self._registered):
            self._registered.add(register)
            probe = typer.Typer()
            register(probe)
            built = typer.main.get_group(probe)
            finish(built)
            for name, command in built.commands.items():
                self.commands.setdefault(name, command)
        return self.commands.get(cmd_name)

    def loaded(self) -> Deferred:
        for name in self.order:
            self.get_command(None, name)
        return self


def deferred_class(order: list[str], later: dict[str, Callable[[typer.Typer], None]]):
    """A ``Deferred`` group class (``typer.Typer(cls=...)``) for commands listed in
    ``order``: those registered on the Typer app are built with it, those in ``later`` by
    their registering function (which may register several) when one is named."""
    return type("Deferred", (Deferred,), {"order": tuple(order), "later": dict(later)})


def root_class(pending: list[Pending]) -> type[Root]:
    return type("Root", (Root,), {"pending": tuple(pending)})
