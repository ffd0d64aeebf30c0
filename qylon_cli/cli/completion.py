"""`qylon completion SHELL`: the script that makes a shell complete qylon's commands.

The shell calls qylon back with ``_QYLON_COMPLETE`` set (see ``__main__``); completions of
values (client names, meeting ids) come from the local store, offline.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

COMPLETE_VAR = "_QYLON_COMPLETE"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.", show_default=False)],
) -> None:
    """Print the completion script for SHELL on stdout.

    Commands, options, choices, --client names and meeting ids all complete; values come
    from the local store (what `qylon sync` last pulled), without the network.

    \b
    Install it once:
      bash:  echo 'eval "$(qylon completion bash)"' >> ~/.bashrc
      zsh:   echo 'eval "$(qylon completion zsh)"' >> ~/.zshrc
      fish:  qylon completion fish > ~/.config/fish/completions/qylon.fish

    Example: qylon completion fish > ~/.config/fish/completions/qylon.fish
    """
    from typer.completion import completion_init, get_completion_script

    completion_init()
    script = get_completion_script(prog_name="qylon", complete_var=COMPLETE_VAR, shell=shell.value)
    typer.echo(script)


def answer_if_asked(environ) -> None:
    """When the shell is asking for completions, ready Typer's completion classes (they are
    registered only on demand, to keep start-up fast)."""
    if COMPLETE_VAR in environ:
        from typer.completion import completion_init

        completion_init()
