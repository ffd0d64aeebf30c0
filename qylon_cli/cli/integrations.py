"""`qylon integrations list|connect|status|disconnect NAME`: the CRM, video and calendar
providers that plugins register (``register_providers``), and their sign-in.

The commands only find the provider and call it (``qylon_cli.providers.Connectable``); how
a vendor signs in, and where its tokens go (the OS keyring, through ``keystore``), is the
plugin's business.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .. import output, plugins

app = typer.Typer(
    no_args_is_help=True,
)

NameArg = Annotated[
    str, typer.Argument(help="The integration, e.g. hubspot or salesforce.", show_default=False)
]


def _registered() -> dict[str, list[plugins.Registration]]:
    found: dict[str, list[plugins.Registration]] = {}
    for entry in plugins.providers().values():
        found.setdefault(plugins.integration_of(entry), []).append(entry)
    return found


def _connectable(name: str, what: str):
    from ..errors import UsageError
    from ..providers import Connectable

    entries = _registered().get(name)
    if not entries:
        raise plugins.missing_integration(name, what)
    entry = entries[0]
    made = plugins.provider(entry.options["kind"], entry.options["name"])
    if not isinstance(made, Connectable):
        raise UsageError(f"The {name} integration has no sign-in to manage.")
    return made


@app.command("list")
def list_(json: output.JsonOption = False) -> None:
    """List the integrations: those installed (with their kind, plugin, sign-in and whether
    they are connected) and those that can be installed.

    Example: qylon integrations list --json
    """
    from ..providers import Connectable

    rows = []
    registered = _registered()
    for name, entries in sorted(registered.items()):
        made = plugins.provider(entries[0].options["kind"], entries[0].options["name"])
        state = made.status() if isinstance(made, Connectable) else {}
        rows.append(
            {
                "name": name,
                "kinds": sorted(e.options["kind"] for e in entries),
                "plugin": entries[0].plugin,
                "auth": entries[0].options.get("auth"),
                "installed": True,
                "connected": bool(state.get("connected")),
            }
        )
    for name, dist in sorted(plugins.INTEGRATIONS.items()):
        if name not in registered:
            rows.append(
                {
                    "name": name,
                    "kinds": [],
                    "plugin": None,
                    "auth": None,
                    "installed": False,
                    "connected": False,
                    "install": f"pip install 'qylon[{plugins.INTEGRATIONS_EXTRA}]' (or {dist})",
                }
            )

    def human(console, rows) -> None:
        from rich.table import Table

        table = Table("name", "kind", "sign-in", "state", box=None)
        for row in rows:
            state = (
                ("connected" if row["connected"] else "not connected")
                if row["installed"]
                else f"not installed: {row['install']}"
            )
            table.add_row(row["name"], ", ".join(row["kinds"]), row["auth"] or "", state)
        console.print(table)

    output.emit_list(rows, human)


def _read_token(token_stdin: bool, name: str) -> str:
    from ..errors import InvalidInput, UsageError

    if token_stdin:
        token = sys.stdin.read().strip()
    elif output.interactive():
        token = typer.prompt(f"{name} token", hide_input=True).strip()
    else:
        raise UsageError(
            "No token given, and there is no terminal to ask for one on.",
            hint=f"Pipe it in: qylon integrations connect {name} --token-stdin < token.txt",
        )
    if not token:
        raise InvalidInput("The token is empty.")
    return token


@app.command()
def connect(
    name: NameArg,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin", help="Read an access token (a private-app token) from standard input."
        ),
    ] = False,
    oauth: Annotated[
        bool,
        typer.Option(
            "--oauth",
            help="Sign in in the browser (authorization code with PKCE, redirected to this machine).",
        ),
    ] = False,
    device: Annotated[
        bool,
        typer.Option(
            "--device",
            help="Sign in with a code entered on another device (OAuth device flow; Salesforce; Microsoft 365 always).",
        ),
    ] = False,
    no_browser: Annotated[
        bool,
        typer.Option(
            "--no-browser", help="With --oauth: print the address to open instead of opening it."
        ),
    ] = False,
    json: output.JsonOption = False,
) -> None:
    """Connect an integration: store its token in the OS keyring.

    Without --oauth, the token (for HubSpot a private app's access token) is read from
    standard input (--token-stdin) or asked for without echo; it never goes on the command line.
    The token is checked against the service before it is kept. Salesforce signs in with
    --oauth or --device (it prints an address and a code to enter there); Microsoft 365
    (msgraph: Teams and Outlook) always signs in with such a device code.

    Example: qylon integrations connect hubspot --token-stdin < token.txt

    Example: qylon integrations connect hubspot --oauth

    Example: qylon integrations connect salesforce --device

    Example: qylon integrations connect msgraph
    """
    made = _connectable(name, f"`qylon integrations connect {name}`")
    if oauth:
        state = made.connect(method="oauth", open_browser=not no_browser)
    elif device:
        state = made.connect(method="device")
    else:
        methods = getattr(made, "methods", ("token", "oauth"))
        if methods == ("device",):  # the only way (Microsoft 365): no flag needed
            state = made.connect(method="device")
        elif "token" not in methods:
            from ..errors import UsageError

            raise UsageError(
                f"{name} does not sign in with a pasted token.",
                hint=" or ".join(f"qylon integrations connect {name} --{m}" for m in methods),
            )
        else:
            state = made.connect(method="token", token=_read_token(token_stdin, name))
    where = state.get("account") or state.get("instance_url") or ""
    output.emit(state, lambda c: c.print(f"Connected to {name} ({where})."))


@app.command()
def status(name: NameArg, json: output.JsonOption = False) -> None:
    """Show whether an integration is connected, how, and to which account.

    Example: qylon integrations status hubspot --json
    """
    state = _connectable(name, f"`qylon integrations status {name}`").status()

    def human(console) -> None:
        if not state.get("connected"):
            console.print(f"{name}: not connected. Run: qylon integrations connect {name}")
            return
        details = ", ".join(f"{k}: {v}" for k, v in state.items() if k != "connected" and v)
        console.print(f"{name}: connected ({details}).")

    output.emit(state, human)


@app.command()
def disconnect(name: NameArg, json: output.JsonOption = False) -> None:
    """Forget an integration's tokens (from the OS keyring).

    Example: qylon integrations disconnect hubspot
    """
    removed = _connectable(name, f"`qylon integrations disconnect {name}`").disconnect()
    output.emit(
        {"name": name, "disconnected": removed},
        lambda c: c.print(f"Disconnected {name}." if removed else f"{name} was not connected."),
    )


# -- the organisation's connections on the team server (for its workflow steps) ------------


@app.command()
def share(name: NameArg, json: output.JsonOption = False) -> None:
    """Give the team server this machine's connection of an integration, for your
    organisation's workflow steps (the CRM actions). Admins only.

    The server keeps it sealed and never shows it again; a step refreshes its tokens there.
    Connect here first (qylon integrations connect NAME); share again to replace it.

    Example: qylon integrations connect hubspot --oauth && qylon integrations share hubspot
    """
    from .. import tokens
    from ..client import ApiClient
    from ..errors import NotAuthenticated

    _connectable(name, f"`qylon integrations share {name}`")  # imports the plugin's sign-in
    kept = tokens.kept(name)
    creds = kept.shareable() if kept is not None else None
    if not creds:
        raise NotAuthenticated(
            f"{name} is not connected on this machine: there is nothing to share.",
            hint=f"Run: qylon integrations connect {name}",
        )
    with ApiClient.from_credentials() as api:
        row = api.put(f"/v1/integrations/{name}", {"credentials": creds})
    output.emit(
        row,
        lambda c: c.print(
            f"Shared {name} ({row.get('kind') or 'token'}) with the team server: "
            "your organisation's workflow steps use it."
        ),
    )


@app.command()
def unshare(name: NameArg, json: output.JsonOption = False) -> None:
    """Remove an integration's connection from the team server: the organisation's steps
    of it fail `not_connected` until it is shared again. Admins only.

    Example: qylon integrations unshare hubspot
    """
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        api.delete(f"/v1/integrations/{name}")
    output.emit({"name": name, "unshared": True}, lambda c: c.print(f"Unshared {name}."))


@app.command()
def shared(json: output.JsonOption = False) -> None:
    """List the connections your organisation's workflow steps use on the team server
    (never their credentials), and the integrations the server offers.

    Example: qylon integrations shared --json
    """
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        page = api.get("/v1/integrations")

    def human(console, rows) -> None:
        from rich.table import Table

        table = Table("name", "kind", "shared by", "updated", "tokens refreshed", box=None)
        for row in rows:
            table.add_row(
                row["name"],
                row.get("kind") or "",
                row["created_by"],
                row["updated_at"],
                row.get("refreshed_at") or "",
            )
        console.print(table)
        console.print(f"The server offers: {', '.join(page['installed']) or 'none'}.")

    output.emit_list(page["items"], human)
