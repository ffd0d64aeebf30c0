"""`qylon api`: an authenticated request to the team server, its answer printed as is (gh api)."""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import output
from ..errors import InvalidInput, UsageError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _read(source: str) -> str:
    """A file's text, or standard input's for '-'."""
    try:
        return sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    except OSError as exc:
        raise InvalidInput(f"Cannot read {source}: {exc.strerror}.") from None


def _typed(value: str) -> Any:
    """``-F`` values: true/false/null, integers and numbers as JSON, ``@file`` read from a file."""
    if value.startswith("@"):
        return _read(value[1:])
    if value in ("true", "false", "null"):
        return jsonlib.loads(value)
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _pairs(items: list[str], option: str, *, typed: bool) -> list[tuple[str, Any]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(
                f"{option} {item!r} is not KEY=VALUE.", hint=f"e.g. {option} name=Acme"
            )
        out.append((key, _typed(value) if typed else value))
    return out


def _headers(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise UsageError(f"--header {item!r} is not 'Name: value'.")
        out[key.strip()] = value.strip()
    return out


def _body_from(input_file: str) -> Any:
    text = _read(input_file)
    try:
        return jsonlib.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{input_file} is not JSON: {exc}.") from None


def api(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[METHOD] PATH",
            help="The path under the server, e.g. /v1/clients; a method before it (GET, POST, "
            "PUT, PATCH, DELETE) overrides --method.",
            show_default=False,
        ),
    ],
    method: Annotated[
        str | None,
        typer.Option(
            "--method", "-X", help="The HTTP method (default GET, or POST when fields are given)."
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-F",
            metavar="KEY=VALUE",
            help="A typed field: true, false, null and numbers as JSON, @FILE read from a file. "
            "In the JSON body, or the query for GET. Repeatable.",
        ),
    ] = None,
    raw_field: Annotated[
        list[str] | None,
        typer.Option(
            "--raw-field", "-f", metavar="KEY=VALUE", help="A field kept as a string. Repeatable."
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", metavar="NAME:VALUE", help="An extra header. Repeatable."),
    ] = None,
    input_file: Annotated[
        str | None,
        typer.Option(
            "--input", metavar="FILE", help="The JSON request body from FILE ('-': standard input)."
        ),
    ] = None,
    paginate: Annotated[
        bool,
        typer.Option("--paginate", help="For a paged list (GET): fetch every page, print one."),
    ] = False,
    json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Errors as a JSON document too ({"error": ...}); the answer is printed as is.',
            callback=output._remember_json,
        ),
    ] = False,
) -> None:
    """Send an authenticated request to the team server and print its JSON answer as is.

    Uses the same server and key as every other command (QYLON_SERVER/QYLON_TOKEN, the
    keyring or the credentials file), the same retries, and the same exit codes for
    errors. With --paginate, a GET of a paged list fetches every page and prints one page
    holding all the items.

    Example: qylon api /v1/users --paginate --jq '.items[].email'

    Example: qylon api POST /v1/clients -f name=Acme -f tags[]=retail
    """
    from ..client import ApiClient, error_from

    if len(args) == 2 and args[0].upper() in METHODS:
        method, path = args[0].upper(), args[1]
    elif len(args) == 1:
        path = args[0]
    else:
        raise UsageError(
            "Give a path, optionally after a method: qylon api [METHOD] PATH.",
            hint="e.g. qylon api GET /v1/clients",
        )
    fields = _arrays(
        _pairs(raw_field or [], "--raw-field", typed=False)
        + _pairs(field or [], "--field", typed=True)
    )
    body = _body_from(input_file) if input_file else None
    method = (method or ("POST" if fields or body is not None else "GET")).upper()
    if method not in METHODS:
        raise UsageError(f"{method} is not an HTTP method.", hint=f"One of {', '.join(METHODS)}.")
    path = path if path.startswith("/") else "/" + path
    params: dict[str, Any] = {}
    if method in ("GET", "HEAD", "DELETE"):
        params, fields = fields, {}
    if fields and body is not None:
        raise UsageError("Give fields or --input, not both.")
    payload = body if body is not None else (fields or None)
    with ApiClient.from_credentials() as client:
        if paginate:
            if method != "GET":
                raise UsageError("--paginate is for GET requests.")
            items = list(client.pages(path, **params))
            output.emit_raw({"items": items, "total": len(items), "limit": None, "offset": 0})
            return
        response = client.send(
            method, path, json=payload, params=params, headers=_headers(header or [])
        )
    if response.status_code >= 400:
        raise error_from(response, client.server)
    if not response.content:
        return
    try:
        document = response.json()
    except ValueError:
        sys.stdout.write(response.text)
        return
    output.emit_raw(document)


def _arrays(fields: list[tuple[str, Any]]) -> dict[str, Any]:
    """``tags[]=a`` twice becomes ``{"tags": ["a", "b"]}`` (gh's array syntax)."""
    out: dict[str, Any] = {}
    for key, value in fields:
        if key.endswith("[]"):
            out.setdefault(key[:-2], []).append(value)
        else:
            out[key] = value
    return out
