"""`qylon users list|show|deactivate|reactivate`: people on the team server."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output, paging
from qylon_cli.client import ApiClient

from .completions import complete_email, remember_emails

RefArg = Annotated[
    str,
    typer.Argument(help="A user's id or email.", show_default=False, autocompletion=complete_email),
]


def resolve(api, ref: str) -> dict:
    """A user by id, else by email (case-insensitive)."""
    from qylon_cli.errors import NotFound

    ref = ref.strip()
    if "@" not in ref:
        return api.get(f"/v1/users/{ref}")
    for item in api.pages("/v1/users", q=ref.lower()):
        if item["email"] == ref.lower():
            return item
    raise NotFound(f"No user with email {ref}.", hint="`qylon users list` shows everyone.")


def _table(c, items: list[dict], total: int) -> None:
    from rich.table import Table

    if not items:
        c.print("No users.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Email", "Name", "Role", "Status", "Department", "Id"):
        table.add_column(col)
    for u in items:
        name = u.get("display_name") or " ".join(
            p for p in (u.get("given_name"), u.get("family_name")) if p
        )
        table.add_row(u["email"], name, u["role"], u["status"], u.get("department") or "", u["id"])
    c.print(table)
    if total > len(items):
        c.print(f"[dim]{len(items)} of {total}; use --limit/--offset for more.[/]")


def _show(c, u: dict) -> None:
    c.print(f"[bold]{u['email']}[/]  ({u['role']}, {u['status']}, id {u['id']})")
    for key in (
        "display_name",
        "given_name",
        "family_name",
        "title",
        "department",
        "team",
        "location",
        "start_date",
        "phone",
        "manager_id",
        "external_id",
        "created_at",
        "deactivated_at",
    ):
        if u.get(key):
            c.print(f"{key.replace('_', ' ').capitalize()}: {u[key]}", markup=False)
    if u.get("groups"):
        c.print("Groups: " + ", ".join(u["groups"]), markup=False)
    for name, value in (u.get("attributes") or {}).items():
        c.print(f"attr:{name}: {value}", markup=False)


def list_cmd(
    q: Annotated[
        str | None, typer.Option("--search", "-q", help="Words in the email or name.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="invited, active or deactivated.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    paginate: paging.PaginateOption = False,
    json: output.JsonOption = False,
) -> None:
    """List the users on the team server.

    Example: qylon users list --status active -q smith
    """
    with ApiClient.from_credentials() as api:
        page = paging.fetch(
            api, "/v1/users", paginate=paginate, limit=limit, offset=offset, q=q, status=status
        )
    # for completing EMAIL arguments offline: every user, when this was the whole list
    remember_emails((u["email"] for u in page["items"]), complete=paginate and not q and not status)
    paging.emit(page, _table)


def show_cmd(user: RefArg, json: output.JsonOption = False) -> None:
    """Show one user.

    Example: qylon users show ann@example.com
    """
    with ApiClient.from_credentials() as api:
        item = resolve(api, user)
    output.emit(item, lambda c: _show(c, item))


def deactivate_cmd(
    user: RefArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json: output.JsonOption = False,
) -> None:
    """Deactivate a user: their API keys stop working at once.

    Example: qylon users deactivate ann@example.com --yes
    """

    with ApiClient.from_credentials() as api:
        target = resolve(api, user)
        output.confirm(f"Deactivate {target['email']}?", yes=yes, action="Deactivating")
        item = api.post(f"/v1/users/{target['id']}/deactivate")
    output.emit(item, lambda c: c.print(f"Deactivated {item['email']}."))


def reactivate_cmd(user: RefArg, json: output.JsonOption = False) -> None:
    """Reactivate a deactivated user.

    Example: qylon users reactivate ann@example.com
    """
    with ApiClient.from_credentials() as api:
        target = resolve(api, user)
        item = api.post(f"/v1/users/{target['id']}/reactivate")
    output.emit(item, lambda c: c.print(f"Reactivated {item['email']} ({item['status']})."))


def groups_cmd(json: output.JsonOption = False) -> None:
    """List the groups on the team server, with how many users each holds.

    Imports with --create-groups and identity providers (SCIM) make groups.

    Example: qylon users groups --json
    """
    with ApiClient.from_credentials() as api:
        items = list(api.pages("/v1/groups", page_size=1000))

    def draw(c, items) -> None:
        from rich.table import Table

        if not items:
            c.print("No groups.")
            return
        table = Table(box=None, header_style="bold")
        for col in ("Group", "Members", "External id", "Id"):
            table.add_column(col)
        for g in items:
            table.add_row(g["name"], str(g["members"]), g.get("external_id") or "", g["id"])
        c.print(table)

    output.emit_list(items, draw)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `users`: list, show, deactivate, reactivate, groups."""
    app.command("list")(list_cmd)
    app.command("show")(show_cmd)
    app.command("deactivate")(deactivate_cmd)
    app.command("reactivate")(reactivate_cmd)
    app.command("groups")(groups_cmd)
