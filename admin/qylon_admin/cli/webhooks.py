"""`qylon webhooks list|create|update|test|deliveries|redeliver|rotate-secret|delete`:
the organisation's signed webhooks on the team server (docs/webhooks.md). Admins only."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.client import ApiClient

app = typer.Typer(
    no_args_is_help=True,
)

IdArg = Annotated[str, typer.Argument(help="The webhook's id.", show_default=False)]
Events = Annotated[
    list[str] | None,
    typer.Option(
        "--event",
        metavar="TYPE",
        help="An event type (repeat for more); `qylon webhooks list` shows the types.",
        show_default=False,
    ),
]


def _path(ident: str, tail: str = "", base: str = "/v1/webhooks") -> str:
    from urllib.parse import quote

    return f"{base}/{quote(ident.strip(), safe='')}{tail}"


def _said(item: dict) -> str:
    state = "enabled" if item["enabled"] else f"disabled ({item.get('disabled_reason') or '-'})"
    return f"{item['id']} {item['url']} [{state}]: {', '.join(item['event_types'])}"


def _secret(c, item: dict) -> None:
    c.print(_said(item), markup=False)
    c.print(f"Signing secret (shown this once): {item['secret']}", markup=False)


@app.command("list")
def list_cmd(json: output.JsonOption = False) -> None:
    """List the webhooks (never their secrets) and the event types they may subscribe to.

    Example: qylon webhooks list --json
    """
    with ApiClient.from_credentials() as api:
        data = api.get("/v1/webhooks")

    def human(c) -> None:
        from rich.table import Table

        if not data["items"]:
            c.print("No webhooks.")
        else:
            table = Table(box=None, header_style="bold")
            for col in ("Id", "URL", "Events", "State"):
                table.add_column(col)
            for w in data["items"]:
                state = "enabled" if w["enabled"] else "disabled"
                table.add_row(w["id"], w["url"], ", ".join(w["event_types"]), state)
            c.print(table)
        c.print(f"[dim]Event types: {', '.join(data['event_types'])}[/]")

    output.emit(data, human)


@app.command("create")
def create_cmd(
    url: Annotated[str, typer.Argument(help="The endpoint: https:// to a public address.")],
    event: Events = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    json: output.JsonOption = False,
) -> None:
    """Subscribe an endpoint to event types. Prints the signing secret (whsec_...) once:
    keep it where the receiver verifies with it.

    Example: qylon webhooks create https://hooks.example.com/qylon --event meeting.stored --event user.created
    """
    from qylon_cli.errors import UsageError

    if not event:
        raise UsageError("Name an event type with --event.", hint="qylon webhooks list")
    body = {"url": url, "event_types": event, "description": description}
    with ApiClient.from_credentials() as api:
        item = api.post("/v1/webhooks", body)
    output.emit(item, lambda c: _secret(c, item))


@app.command("update")
def update_cmd(
    webhook: IdArg,
    event: Events = None,
    url: Annotated[str | None, typer.Option(help="A new endpoint.")] = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Send, or stop sending.")
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Change a webhook's events or URL, or enable or disable it (--event replaces the list).

    Example: qylon webhooks update 0b6f... --disable
    """
    body = {
        k: v
        for k, v in (("event_types", event), ("url", url), ("enabled", enable))
        if v is not None
    }
    with ApiClient.from_credentials() as api:
        item = api.patch(_path(webhook), body)
    output.emit(item, lambda c: c.print(_said(item), markup=False))


@app.command("test")
def test_cmd(webhook: IdArg, json: output.JsonOption = False) -> None:
    """Send a `webhook.test` event now (queued; `deliveries` shows how it went).

    Example: qylon webhooks test 0b6f...
    """
    with ApiClient.from_credentials() as api:
        item = api.post(_path(webhook, "/test"), None)
    output.emit(item, lambda c: c.print(f"Queued delivery {item['id']}.", markup=False))


def _log(c, items: list[dict]) -> None:
    from rich.table import Table

    if not items:
        c.print("No deliveries.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("Delivery", "Event", "Status", "Attempts", "Last", "When"):
        table.add_column(col)
    for d in items:
        last = d["log"][-1] if d["log"] else None
        code = "–" if last is None else str(last["status_code"] or last["error"] or "–")
        table.add_row(d["id"], d["event_type"], d["status"], str(d["attempts"]), code[:40],
                      d["created_at"][:19])  # fmt: skip
    c.print(table)


@app.command("deliveries")
def deliveries_cmd(
    webhook: IdArg,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    json: output.JsonOption = False,
) -> None:
    """The newest deliveries, each with its attempts (--json: time, status code, response
    time, error, the start of the answer).

    Example: qylon webhooks deliveries 0b6f... --json
    """
    with ApiClient.from_credentials() as api:
        data = api.get(_path(webhook, "/deliveries"), limit=limit)
    output.emit(data["items"], lambda c: _log(c, data["items"]))


@app.command("redeliver")
def redeliver_cmd(
    delivery: Annotated[str, typer.Argument(help="The delivery's id (msg_...).")],
    json: output.JsonOption = False,
) -> None:
    """Send a delivery again: the same webhook-id and body, a new attempt in its log.

    Example: qylon webhooks redeliver msg_3f2a...
    """
    with ApiClient.from_credentials() as api:
        item = api.post(_path(delivery, "/redeliver", base="/v1/webhook-deliveries"), None)
    output.emit(item, lambda c: c.print(f"Queued {item['id']} again.", markup=False))


@app.command("rotate-secret")
def rotate_cmd(webhook: IdArg, json: output.JsonOption = False) -> None:
    """A new signing secret, printed once; the old one signs nothing more.

    Example: qylon webhooks rotate-secret 0b6f...
    """
    with ApiClient.from_credentials() as api:
        item = api.post(_path(webhook, "/rotate-secret"), None)
    output.emit(item, lambda c: _secret(c, item))


@app.command("delete")
def delete_cmd(
    webhook: IdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json: output.JsonOption = False,
) -> None:
    """Delete a webhook and its delivery log.

    Example: qylon webhooks delete 0b6f... --yes
    """
    output.confirm(f"Delete the webhook {webhook}?", yes=yes, action="Deleting a webhook")
    with ApiClient.from_credentials() as api:
        api.delete(_path(webhook))
    output.emit({"id": webhook, "deleted": True},
                lambda c: c.print(f"Deleted webhook {webhook}.", markup=False))  # fmt: skip
