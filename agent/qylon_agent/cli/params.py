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


def warn_unknown_client(ctx: typer.Context, value: str | None) -> str | None:
    """Warn when a meeting is filed under a client missing from the team's list (as `qylon
    sync` last pulled it): the server would store the meeting without a client."""
    if not value or not value.strip() or ctx.resilient_parsing:
        return value
    try:
        from ..sync.outbox import Outbox

        names = Outbox(_store()).client_names(include_archived=True)
    except Exception:  # noqa: BLE001 - a check that cannot run is no reason to refuse the work
        return value
    if names and value.strip().lower() not in {n.lower() for n in names}:
        import difflib

        from qylon_cli import output

        close = difflib.get_close_matches(value.strip(), names, n=1)
        output.warn(
            f"{value!r} is not in the team's client list (as of the last `qylon sync`)"
            + (f"; did you mean {close[0]!r}?" if close else ".")
            + " The meeting keeps the name; the server links it once a client of that name exists."
        )
    return value


def client_option(help: str, *, files: bool = True):
    """A ``--client`` option that completes the team's client names; when it ``files`` a
    meeting under the client (not a filter), an unknown name is warned about."""
    return typer.Option(
        "--client",
        help=help,
        autocompletion=complete_client,
        callback=warn_unknown_client if files else None,
    )


# Where a meeting goes in a CRM (`meeting push`, `meeting follow-up --attach`).
EmailOption = Annotated[
    list[str] | None,
    typer.Option(
        "--email",
        help="A participant's email address, to find the CRM contact (repeatable; speakers "
        "named by an email count too).",
        show_default=False,
    ),
]
