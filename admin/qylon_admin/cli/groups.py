"""`qylon groups list|show|create|delete|add-member|remove-member`: the team server's
groups, one change at a time, under the provisioner's rules (unique names; nobody
changes the memberships of someone who outranks them), one audit event each."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output, paging
from qylon_cli.client import ApiClient

from .completions import complete_email, complete_group, remember_groups

app = typer.Typer(
    no_args_is_help=True,
)

GroupArg = Annotated[
    str,
    typer.Argument(
        help="A group's name (any case) or id.", show_default=False, autocompletion=complete_group
    ),
]
UserArg = Annotated[
    str,
    typer.Argument(help="A user's email or id.", show_default=False, autocompletion=complete_email),
]


def resolve(api, ref: str) -> dict:
    """A group by name (case-insensitive) or id, from the list."""
    from qylon_cli.errors import NotFound

    wanted = ref.strip()
    for group in api.pages("/v1/groups", page_size=1000):
        if group["id"] == wanted or group["name"].casefold() == wanted.casefold():
            return group
    raise NotFound(f"No group named {wanted}.", hint="`qylon groups list` shows them all.")


def _table(c, items: list[dict], total: int) -> None:
    from rich.table import Table
    from rich.text import Text

    if not items:
        c.print("No groups.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Group", "Members", "External id", "Id"):
        table.add_column(col)
    for g in items:
        table.add_row(Text(g["name"]), str(g["members"]), Text(g.get("external_id") or ""), g["id"])
    c.print(table)
    if total > len(items):
        c.print(f"[dim]{len(items)} of {total}; use --limit/--offset for more.[/]")


@app.command("list")
def list_cmd(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    paginate: paging.PaginateOption = False,
    json: output.JsonOption = False,
) -> None:
    """List the groups by name, with how many users each holds.

    Example: qylon groups list --paginate --json
    """
    with ApiClient.from_credentials() as api:
        page = paging.fetch(api, "/v1/groups", paginate=paginate, limit=limit, offset=offset)
    page.setdefault("limit", limit)  # the server's group page has items and total only
    page.setdefault("offset", offset)
    # for completing GROUP arguments offline: every group, when this was the whole list
    remember_groups(
        (g["name"] for g in page["items"]),
        complete=paginate or (offset == 0 and len(page["items"]) == page["total"]),
    )
    paging.emit(page, _table)


@app.command("show")
def show_cmd(group: GroupArg, json: output.JsonOption = False) -> None:
    """Show a group and its members.

    Example: qylon groups show sales
    """
    with ApiClient.from_credentials() as api:
        item = api.get(f"/v1/groups/{resolve(api, group)['id']}")

    def draw(c) -> None:
        from rich.markup import escape

        count = f"{item['members']} member{'' if item['members'] == 1 else 's'}"
        c.print(f"[bold]{escape(item['name'])}[/]  ({count}, id {item['id']})")
        if item.get("external_id"):
            c.print(f"External id: {item['external_id']}", markup=False)
        for u in item["users"]:
            name = f"  {u['display_name']}" if u.get("display_name") else ""
            c.print(f"  {u['email']}{name}  ({u['role']}, {u['status']})", markup=False)

    output.emit(item, draw)


@app.command("create")
def create_cmd(
    name: Annotated[str, typer.Argument(help="The new group's name.", show_default=False)],
    external_id: Annotated[
        str | None, typer.Option(help="The identity provider's id for it.")
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Create an empty group; names are unique, whatever their case (exit 3 if taken).

    Example: qylon groups create "Sales EMEA"
    """
    with ApiClient.from_credentials() as api:
        item = api.post("/v1/groups", {"name": name, "external_id": external_id})
    remember_groups([item["name"]])
    output.emit(
        item, lambda c: c.print(f"Created group {item['name']}, id {item['id']}.", markup=False)
    )


@app.command("delete")
def delete_cmd(
    group: GroupArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json: output.JsonOption = False,
) -> None:
    """Delete a group; its members stay users, without it.

    Example: qylon groups delete "Sales EMEA" --yes
    """
    with ApiClient.from_credentials() as api:
        item = resolve(api, group)
        output.confirm(
            f"Delete the group {item['name']} ({item['members']} members)?",
            yes=yes,
            action="Deleting a group",
        )
        api.delete(f"/v1/groups/{item['id']}")
    remember_groups([], forget=[item["name"]])
    output.emit(item, lambda c: c.print(f"Deleted group {item['name']}.", markup=False))


def _membership(group: str, user: str, *, add: bool) -> None:
    from .users_admin import resolve as resolve_user

    with ApiClient.from_credentials() as api:
        target = resolve_user(api, user)
        item = resolve(api, group)
        path = f"/v1/groups/{item['id']}/members/{target['id']}"
        after = api.put(path, None) if add else api.delete(path)
    changed = after["members"] != item["members"]
    result = {"group": after, "email": target["email"], "changed": changed}

    def say(c) -> None:
        if not changed:
            where = "already in" if add else "not in"
            c.print(f"No change: {target['email']} is {where} {item['name']}.", markup=False)
        else:
            verb = "Added" if add else "Removed"
            c.print(
                f"{verb} {target['email']} {'to' if add else 'from'} {item['name']}.", markup=False
            )

    output.emit(result, say)


@app.command("add-member")
def add_member_cmd(group: GroupArg, user: UserArg, json: output.JsonOption = False) -> None:
    """Put a user in a group (exit 4 for a user who outranks you).

    Example: qylon groups add-member Sales ann@example.com
    """
    _membership(group, user, add=True)


@app.command("remove-member")
def remove_member_cmd(group: GroupArg, user: UserArg, json: output.JsonOption = False) -> None:
    """Take a user out of a group.

    Example: qylon groups remove-member Sales ann@example.com
    """
    _membership(group, user, add=False)
