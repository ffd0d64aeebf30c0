"""`qylon users add|update|set-role`: one person at a time, as GAM and the Okta and Entra
consoles allow, under the same rules as a bulk import (the server's provisioner: ranks,
managers by email without loops, groups that exist) and with the same audit events."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.client import ApiClient

from .completions import complete_email, remember_emails
from .users_admin import RefArg, resolve

# The fields both add and update take; an empty value clears the field on update.
FirstName = Annotated[str | None, typer.Option(help="Given name.")]
LastName = Annotated[str | None, typer.Option(help="Family name.")]
Name = Annotated[str | None, typer.Option("--name", help="Display name, e.g. 'Ann Lee'.")]
Manager = Annotated[
    str | None,
    typer.Option(help="The manager's email (an existing user).", autocompletion=complete_email),
]
Title = Annotated[str | None, typer.Option(help="Job title.")]
Department = Annotated[str | None, typer.Option(help="Department.")]
Team = Annotated[str | None, typer.Option(help="Team.")]
Location = Annotated[str | None, typer.Option(help="Office or city.")]
Phone = Annotated[str | None, typer.Option(help="Phone, e.g. +447700900123 (or with --region).")]
StartDate = Annotated[
    str | None, typer.Option(help="Start date: 2026-03-15, 15 Mar 2026, 15.03.2026...")
]
Groups = Annotated[
    list[str] | None,
    typer.Option(
        "--groups",
        metavar="NAMES",
        help="Groups (existing ones), comma-separated; repeatable.",
    ),
]
Attr = Annotated[
    list[str] | None,
    typer.Option("--attr", metavar="NAME=VALUE", help="A custom attribute; repeatable."),
]
ExternalId = Annotated[str | None, typer.Option(help="The identity provider's id.")]
Region = Annotated[str | None, typer.Option(help="Country for a phone without +code, e.g. GB.")]


def _outcome(before: dict | None, after: dict) -> dict:
    """What a one-person command prints: the user, and what changed."""
    if before is None:
        return {"user": after, "outcome": "created", "changed": []}
    changed = sorted(k for k in after if k != "status" and before.get(k) != after.get(k))
    return {"user": after, "outcome": "updated" if changed else "unchanged", "changed": changed}


def _say(c, result: dict) -> None:
    user = result["user"]
    if result["outcome"] == "created":
        c.print(
            f"Added {user['email']} ({user['role']}, {user['status']}), id {user['id']}.",
            markup=False,
        )
    elif result["outcome"] == "unchanged":
        c.print(f"No change: {user['email']} already had those values.", markup=False)
    else:
        c.print(f"Updated {user['email']}: {', '.join(result['changed'])}.", markup=False)


def add_cmd(
    email: Annotated[str, typer.Argument(help="The new user's email.", show_default=False)],
    first_name: FirstName = None,
    last_name: LastName = None,
    name: Name = None,
    role: Annotated[str, typer.Option(help="owner, admin, manager or member.")] = "member",
    manager: Manager = None,
    title: Title = None,
    department: Department = None,
    team: Team = None,
    location: Location = None,
    phone: Phone = None,
    start_date: StartDate = None,
    groups: Groups = None,
    attr: Attr = None,
    external_id: ExternalId = None,
    region: Region = None,
    json: output.JsonOption = False,
) -> None:
    """Add one user; they are invited, and active once they use a key.

    The rules of an import apply: nobody gives a role above their own, the manager must
    exist, groups must exist (`qylon groups create`). One audit event (user.invite).
    Exit 3 for a bad value or an email already taken, 4 for a role above yours.

    Example: qylon users add ann@example.com --name "Ann Lee" --role manager --manager bob@example.com --groups Sales,London
    """
    from ..users import person

    fields = person.body(
        {
            "first_name": first_name,
            "last_name": last_name,
            "name": name,
            "role": role,
            "manager": manager,
            "title": title,
            "department": department,
            "team": team,
            "location": location,
            "phone": phone,
            "start_date": start_date,
            "groups": groups,
            "external_id": external_id,
        },
        clear=False,
        attributes=attr or (),
        region=region,
    )
    body = {"email": person.email(email), **fields}
    with ApiClient.from_credentials() as api:
        user = api.post("/v1/users", body)
    remember_emails([user["email"]])
    result = _outcome(None, user)
    output.emit(result, lambda c: _say(c, result))


def update_cmd(
    user: RefArg,
    first_name: FirstName = None,
    last_name: LastName = None,
    name: Name = None,
    role: Annotated[str | None, typer.Option(help="owner, admin, manager or member.")] = None,
    manager: Manager = None,
    title: Title = None,
    department: Department = None,
    team: Team = None,
    location: Location = None,
    phone: Phone = None,
    start_date: StartDate = None,
    groups: Groups = None,
    attr: Attr = None,
    external_id: ExternalId = None,
    region: Region = None,
    json: output.JsonOption = False,
) -> None:
    """Change only the fields given; an empty value ('') clears one.

    --groups replaces the user's groups (`qylon groups add-member` adds one); --attr
    merges. One audit event (user.update) when anything changed, none otherwise.
    Exit 5 for an unknown user, 3 for a bad value, 4 for a user or role above yours.

    Example: qylon users update ann@example.com --title "Head of Sales" --department ""
    """
    from qylon_cli.errors import UsageError

    from ..users import person

    given = {
        "first_name": first_name,
        "last_name": last_name,
        "name": name,
        "role": role,
        "manager": manager,
        "title": title,
        "department": department,
        "team": team,
        "location": location,
        "phone": phone,
        "start_date": start_date,
        "groups": groups,
        "external_id": external_id,
    }
    fields = person.body(given, clear=True, attributes=attr or (), region=region)
    if not fields:
        raise UsageError(
            "Nothing to change: give at least one field.",
            hint="e.g. --title 'Head of Sales'; `qylon users update --help` lists them.",
        )
    _change(user, fields)


def set_role_cmd(
    user: RefArg,
    role: Annotated[
        str, typer.Argument(help="owner, admin, manager or member.", show_default=False)
    ],
    json: output.JsonOption = False,
) -> None:
    """Give a user another role.

    Nobody gives a role above their own nor changes someone who outranks them (exit 4),
    and the organisation keeps an owner. One audit event (user.update).

    Example: qylon users set-role ann@example.com admin
    """
    from ..users import person

    _change(user, {"role": person.role(role)})


def _change(ref: str, fields: dict) -> None:
    with ApiClient.from_credentials() as api:
        before = resolve(api, ref)
        after = api.patch(f"/v1/users/{before['id']}", fields)
    remember_emails([after["email"]])
    result = _outcome(before, after)
    output.emit(result, lambda c: _say(c, result))


def register(app: typer.Typer) -> None:
    """Add this module's commands to `users`: add, update, set-role."""
    app.command("add")(add_cmd)
    app.command("update")(update_cmd)
    app.command("set-role")(set_role_cmd)
