"""`qylon auth ...`: log in to the team server, show status, log out, manage API keys."""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer

from .. import output
from ..errors import InvalidInput, UsageError

app = typer.Typer(
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="Create, list, rotate and revoke API keys.\n\nExample: qylon auth keys create --name laptop --scope read --scope write",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


def _read_token(token_stdin: bool) -> str:
    if token_stdin:
        token = sys.stdin.readline().strip()
    elif output.interactive():
        token = typer.prompt("API key (qyl_live_...)", hide_input=True).strip()
    else:
        raise UsageError(
            "No API key given.",
            hint="Pipe it in with --token-stdin (no prompt without a terminal).",
        )
    if not token:
        raise InvalidInput("The API key is empty.")
    return token


def _whoami_view(me: dict, server: str, source: str) -> dict:
    key = me["key"]
    return {
        "server": server,
        "source": source,
        "organisation": me["organisation"]["name"],
        "user": me["user"]["email"],
        "role": me["user"]["role"],
        "key": key["prefix"],
        "key_id": key["id"],
        "scopes": key["scopes"],
        "expires_at": key["expires_at"],
    }


def _source(where: str) -> str:
    """A key's source in words: "environment", "keyring" or "file PATH"."""
    return where if where in ("environment", "keyring") else f"file {where}"


def _show_status(c, view: dict) -> None:
    from rich.markup import escape

    c.print(
        f"Logged in to [bold]{view['server']}[/] as {view['user']} ({view['role']}) in {view['organisation']}."
    )
    c.print(
        escape(
            f"Key {view['key']} with scopes {', '.join(view['scopes'])}"
            + (f", expires {view['expires_at']}" if view["expires_at"] else "")
            + f" (from the {view['source']})."
        )
    )


@app.command()
def login(
    server: Annotated[str, typer.Option("--server", help="The server's URL.", show_default=False)],
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Read the API key from standard input.")
    ] = False,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow a plain http:// server on another machine (the key crosses the network readable).",
        ),
    ] = False,
    json: output.JsonOption = False,
) -> None:
    """Check an API key against the server and keep it in the OS keyring.

    Without an OS keyring (a server, a container, WSL, an SSH session) the key goes to
    credentials.json beside the config file, readable only by you, and a notice says so.
    Refuses plain http:// to another machine unless --insecure; checks that the key can be
    kept before sending it anywhere.

    Example: qylon auth login --server https://qylon.acme.example --token-stdin < key.txt
    """
    from .. import credentials, keystore
    from ..client import ApiClient, check_transport

    url = credentials.normalise(server)
    check_transport(url, insecure or None)
    keystore.check_writable()  # before the key is sent anywhere
    token = _read_token(token_stdin)
    with ApiClient(url, token, retries=1, insecure=insecure or None) as api:
        me = api.get("/v1/me")
    where = credentials.save(url, token, insecure=insecure)
    if where != "keyring":
        output.info(f"No OS keyring here: the key is kept in {where} (readable only by you).")
    view = _whoami_view(me, url, _source(where))
    output.emit(view, lambda c: _show_status(c, view))


@app.command()
def status(json: output.JsonOption = False) -> None:
    """Show which server and key are in use, and check that the key still works.

    Example: qylon auth status --json
    """
    from .. import credentials
    from ..client import ApiClient

    creds = credentials.resolve()
    with ApiClient(creds.server, creds.token, retries=1) as api:
        me = api.get("/v1/me")
    view = _whoami_view(
        me, creds.server, _source("environment" if creds.source == "env" else creds.source)
    )
    output.emit(view, lambda c: _show_status(c, view))


@app.command()
def token(json: output.JsonOption = False) -> None:
    """Print the API key in use (QYLON_TOKEN, the keyring or the credentials file), for scripts.

    Example: qylon auth token | gh secret set QYLON_TOKEN
    """
    from .. import credentials

    creds = credentials.resolve()
    source = "environment" if creds.source == "env" else creds.source
    data = {"server": creds.server, "token": creds.token, "source": _source(source)}
    output.emit(data, lambda c: c.print(creds.token, markup=False, highlight=False))


@app.command()
def logout(json: output.JsonOption = False) -> None:
    """Forget the stored server and API key (the key itself stays valid; revoke it to stop it).

    Example: qylon auth logout
    """
    from .. import credentials

    server = credentials.stored_server()
    removed = credentials.forget(server) if server else False
    data = {"server": server, "removed": removed}
    output.emit(data, lambda c: c.print(f"Logged out of {server}." if server else "Not logged in."))


# -- keys --------------------------------------------------------------------------------


def _key_rows(keys: list[dict]) -> list[dict]:
    return [
        {
            k: key.get(k)
            for k in (
                "id",
                "prefix",
                "name",
                "scopes",
                "status",
                "created_at",
                "last_used_at",
                "expires_at",
            )
        }
        for key in keys
    ]


def _key_table(c, keys: list[dict]) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("Key", no_wrap=True)
    for col in ("Name", "Scopes", "Status", "Last used", "Expires"):
        table.add_column(col)
    for k in keys:
        table.add_row(
            k["prefix"],
            k["name"],
            ",".join(k["scopes"]),
            k["status"],
            (k["last_used_at"] or "never")[:16].replace("T", " "),
            (k["expires_at"] or "never")[:16].replace("T", " "),
        )
    c.print(table)
    c.print(
        "[dim]Rotate or revoke a key by its prefix, e.g. qylon auth keys revoke "
        + (keys[0]["prefix"] if keys else "qyl_live_…")
        + "[/]"
    )


def _resolve_key(api, ref: str) -> dict:
    if ref.startswith("qyl_live_"):
        matches = [k for k in api.get("/v1/api-keys") if ref.startswith(k["prefix"])]
        if len(matches) != 1:
            from ..errors import NotFound

            raise NotFound(
                f"No key of yours starts with {ref[:17]}.",
                hint="`qylon auth keys list` shows your keys.",
            )
        return matches[0]
    return api.get(f"/v1/api-keys/{ref}")


def _show_secret(c, key: dict) -> None:
    c.print(
        f"Key [bold]{key['name']}[/] ({key['prefix']}, scopes {', '.join(key['scopes'])}). The secret, shown once:"
    )
    c.print(key["token"], markup=False)


def parse_duration(text: str) -> int:
    """'90', '90s', '15m', '2h', '7d' → seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not m:
        raise InvalidInput(f"{text!r} is not a duration.", hint="Use e.g. 0, 90s, 15m, 2h or 7d.")
    return int(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


@keys_app.command("create")
def keys_create(
    name: Annotated[
        str, typer.Option(help="What the key is for, e.g. laptop or ci.", show_default=False)
    ],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="read, write, admin, scim or transcribe (a worker's key); repeat for several.",
        ),
    ] = ["read", "write"],  # noqa: B006
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Expire after this many days.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            help="Create it for another user (id): needs the admin scope and a role above theirs."
        ),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Create an API key; its secret is printed once.

    Example: qylon auth keys create --name ci --scope read --expires-in-days 90
    """
    from ..client import ApiClient

    body = {"name": name, "scopes": scope, "expires_in_days": expires_in_days, "user_id": user}
    with ApiClient.from_credentials() as api:
        key = api.post("/v1/api-keys", {k: v for k, v in body.items() if v is not None})
    output.emit(key, lambda c: _show_secret(c, key))


@keys_app.command("list")
def keys_list(
    all_users: Annotated[
        bool, typer.Option("--all", help="Every user's keys (needs admin).")
    ] = False,
    json: output.JsonOption = False,
) -> None:
    """List your API keys (never their secrets).

    Example: qylon auth keys list
    """
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        keys = api.get("/v1/api-keys", all_users=str(all_users).lower() if all_users else None)
    rows = _key_rows(keys)
    output.emit_list(rows, lambda c, _: _key_table(c, keys))


@keys_app.command("rotate")
def keys_rotate(
    key: Annotated[
        str,
        typer.Argument(help="A key id or its visible prefix (qyl_live_...).", show_default=False),
    ],
    grace: Annotated[
        str, typer.Option(help="How long the old secret keeps working: 0, 90s, 15m, 2h, 7d.")
    ] = "1h",
    json: output.JsonOption = False,
) -> None:
    """Issue a new secret for a key; the old one keeps working for the grace period.

    When the rotated key is the one this CLI uses, the stored key is updated too.

    Example: qylon auth keys rotate qyl_live_ab12cd34 --grace 15m
    """
    from .. import credentials
    from ..client import ApiClient

    creds = credentials.resolve()
    with ApiClient(creds.server, creds.token) as api:
        target = _resolve_key(api, key)
        current = api.get("/v1/me")["key"]["id"]
        new = api.post(
            f"/v1/api-keys/{target['id']}/rotate", {"grace_seconds": parse_duration(grace)}
        )
    if target["id"] == current and creds.source != "env":
        credentials.save(creds.server, new["token"])
        output.info("This CLI's stored key was updated to the new secret.")
    output.emit(new, lambda c: _show_secret(c, new))


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[
        str,
        typer.Argument(help="A key id or its visible prefix (qyl_live_...).", show_default=False),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json: output.JsonOption = False,
) -> None:
    """Revoke an API key: it stops working at once.

    Example: qylon auth keys revoke qyl_live_ab12cd34 --yes
    """
    from ..client import ApiClient

    with ApiClient.from_credentials() as api:
        target = _resolve_key(api, key)
        output.confirm(f"Revoke {target['prefix']} ({target['name']})?", yes=yes, action="Revoking")
        done = api.post(f"/v1/api-keys/{target['id']}/revoke")
    row = _key_rows([done])[0]
    output.emit(row, lambda c: c.print(f"Revoked {done['prefix']} ({done['name']})."))
