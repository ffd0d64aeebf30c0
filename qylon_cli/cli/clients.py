"""`qylon clients ...`: the firm's clients on the team server."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import output, paging
from ..client import ApiClient

app = typer.Typer(
    no_args_is_help=True,
)

RefArg = Annotated[str, typer.Argument(help="A client's id or exact name.", show_default=False)]
TagOption = Annotated[list[str] | None, typer.Option("--tag", help="A tag; repeat for several.")]


def resolve(api, ref: str) -> dict:
    """A client by id, else by exact (case-insensitive) name, archived ones included."""
    from ..errors import NotFound

    if len(ref) == 36 and ref.count("-") == 4:
        return api.get(f"/v1/clients/{ref}")
    for item in api.pages("/v1/clients", q=ref, status="all"):
        if item["name"].lower() == ref.strip().lower():
            return item
    raise NotFound(
        f"No client named {ref!r}.", hint="`qylon clients list --all` shows every client."
    )


def _table(c, items: list[dict], total: int | None = None) -> None:
    from rich.table import Table

    if not items:
        c.print("No clients.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Name", "Domain", "Tags", "Status", "Id"):
        table.add_column(col)
    for i in items:
        table.add_row(
            i["name"], i.get("domain") or "", ", ".join(i.get("tags") or []), i["status"], i["id"]
        )
    c.print(table)
    if total is not None and total > len(items):
        c.print(f"[dim]{len(items)} of {total}; use --limit/--offset for more.[/]")


def _show(c, item: dict) -> None:
    c.print(f"[bold]{item['name']}[/]  ({item['status']}, id {item['id']})")
    for label, key in (("Domain", "domain"), ("Created", "created_at"), ("Updated", "updated_at")):
        if item.get(key):
            c.print(f"{label}: {item[key]}")
    if item.get("tags"):
        c.print("Tags: " + ", ".join(item["tags"]))
    if item.get("notes"):
        c.print("Notes:\n" + item["notes"], markup=False)


@app.command()
def add(
    name: Annotated[
        str, typer.Argument(help="The client's name (unique in the firm).", show_default=False)
    ],
    domain: Annotated[str | None, typer.Option(help="Their web domain, e.g. acme.example.")] = None,
    tag: TagOption = None,
    notes: Annotated[str | None, typer.Option(help="Free-text notes.")] = None,
    json: output.JsonOption = False,
) -> None:
    """Add a client.

    Example: qylon clients add "Acme Corp" --domain acme.example --tag retail --notes "Met at the expo"
    """
    body = {"name": name, "domain": domain, "tags": tag or [], "notes": notes}
    with ApiClient.from_credentials() as api:
        item = api.post("/v1/clients", {k: v for k, v in body.items() if v is not None})
    output.emit(item, lambda c: c.print(f"Added client [bold]{item['name']}[/] ({item['id']})."))


@app.command("list")
def list_(
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Words in the name, domain or notes.")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="Only clients with this tag.")] = None,
    archived: Annotated[bool, typer.Option("--archived", help="Only archived clients.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Active and archived clients.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many.")] = 0,
    paginate: paging.PaginateOption = False,
    json: output.JsonOption = False,
) -> None:
    """List clients alphabetically.

    Example: qylon clients list --search acme --json
    """
    status = "all" if all_ else "archived" if archived else "active"
    with ApiClient.from_credentials() as api:
        page = paging.fetch(
            api,
            "/v1/clients",
            paginate=paginate,
            limit=limit,
            offset=offset,
            q=search,
            tag=tag,
            status=status,
        )
    paging.emit(page, _table)


@app.command()
def show(ref: RefArg, json: output.JsonOption = False) -> None:
    """Show one client.

    Example: qylon clients show "Acme Corp"
    """
    with ApiClient.from_credentials() as api:
        item = resolve(api, ref)
    output.emit(item, lambda c: _show(c, item))


@app.command()
def update(
    ref: RefArg,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    domain: Annotated[str | None, typer.Option(help="A new domain.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Replace the tags; repeat for several.")
    ] = None,
    add_tag: Annotated[list[str] | None, typer.Option("--add-tag", help="Add a tag.")] = None,
    remove_tag: Annotated[
        list[str] | None, typer.Option("--remove-tag", help="Remove a tag.")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Replace the notes.")] = None,
    json: output.JsonOption = False,
) -> None:
    """Change a client's name, domain, tags or notes.

    Example: qylon clients update "Acme Corp" --add-tag priority --notes "Renewal in March"
    """
    from ..errors import UsageError

    body = {
        k: v for k, v in {"name": name, "domain": domain, "notes": notes}.items() if v is not None
    }
    with ApiClient.from_credentials() as api:
        item = resolve(api, ref)
        if tag is not None or add_tag or remove_tag:
            tags = list(tag) if tag is not None else list(item.get("tags") or [])
            tags = [t for t in tags + list(add_tag or []) if t not in set(remove_tag or [])]
            body["tags"] = tags
        if not body:
            raise UsageError(
                "Nothing to change.",
                hint="Give --name, --domain, --tag, --add-tag, --remove-tag or --notes.",
            )
        item = api.patch(f"/v1/clients/{item['id']}", body)
    output.emit(item, lambda c: c.print(f"Updated client [bold]{item['name']}[/]."))


@app.command()
def archive(ref: RefArg, json: output.JsonOption = False) -> None:
    """Archive a client: hidden from lists, kept with its meetings.

    Example: qylon clients archive "Old Client Ltd"
    """
    with ApiClient.from_credentials() as api:
        item = api.post(f"/v1/clients/{resolve(api, ref)['id']}/archive")
    output.emit(item, lambda c: c.print(f"Archived client [bold]{item['name']}[/]."))


@app.command()
def sync(
    from_: Annotated[
        str,
        typer.Option("--from", help="The CRM: hubspot or salesforce.", show_default=False),
    ] = ...,
    json: output.JsonOption = False,
) -> None:
    """Fill and update the client list from a CRM's companies (HubSpot) or accounts
    (Salesforce), every page of them.

    Each client made is tagged with the CRM's id (e.g. salesforce:001...), so a company
    renamed in the CRM renames its client; a client that already has the company's name is
    adopted. Running it again changes nothing unless the CRM changed. A company that cannot
    be synced (a name taken by another client) is reported and the command exits 7.

    Example: qylon clients sync --from salesforce --json
    """
    from .. import crm_clients, plugins
    from ..errors import UsageError
    from ..providers import CompanyLister

    crm = plugins.require("crm", from_, f"`qylon clients sync --from {from_}`")
    if not isinstance(crm, CompanyLister):
        raise UsageError(f"The {from_} integration cannot list companies.")
    with ApiClient.from_credentials() as api:
        report = crm_clients.sync(api, from_, crm.list_companies())
    data = report.model_dump(mode="json")

    def human(c) -> None:
        counts = {o: report.count(o) for o in ("created", "updated", "linked", "unchanged")}
        c.print(
            f"Synced {len(report.items)} clients from {from_}: "
            + ", ".join(f"{n} {o}" for o, n in counts.items())
            + "."
        )

    output.emit(data, human)
