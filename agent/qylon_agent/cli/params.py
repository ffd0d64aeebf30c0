"""The arguments and options many agent commands share, with their shell completion.

Completion reads the local store only (offline, fast) and never fails loudly: a broken
store completes nothing rather than printing a traceback into the shell.
"""

from __future__ import annotations

from typing import Annotated

import typer


def _store():
    from ..store.database import Store

    return Store()


def complete_client(incomplete: str) -> list[str]:
    """Client names from the list `qylon sync` last pulled (works offline)."""
    try:
        from ..sync.outbox import Outbox

        return Outbox(_store()).client_names(incomplete)
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []


def _complete_ids(table: str, label: str, incomplete: str) -> list[tuple[str, str]]:
    try:
        rows = _store().db.execute(
            f"SELECT id, {label} FROM [{table}] WHERE id LIKE ? ORDER BY rowid DESC LIMIT 50",
            [incomplete.lower() + "%"],
        )
        return [(row[0], str(row[1] or "")) for row in rows]
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []


def complete_meeting(incomplete: str) -> list[tuple[str, str]]:
    """Meeting ids (newest first), each with its title as the description."""
    return _complete_ids("meetings", "title", incomplete)


def complete_item(incomplete: str) -> list[tuple[str, str]]:
    """Action item ids, each with its task as the description."""
    return _complete_ids("action_items", "task", incomplete)


IdArg = Annotated[
    str,
    typer.Argument(
        help="A meeting id, or a unique prefix of one.",
        show_default=False,
        autocompletion=complete_meeting,
    ),
]
ItemArg = Annotated[
    str,
    typer.Argument(
        help="An action item id, or a unique prefix of one.",
        show_default=False,
        autocompletion=complete_item,
    ),
]


def client_option(help: str):
    """A ``--client`` option that completes the team's client names."""
    return typer.Option("--client", help=help, autocompletion=complete_client)
