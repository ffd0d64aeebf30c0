"""The server's users in the shape the CSV library uses (``UserRow`` dicts), and back.

``fetch(api)`` pages through ``/v1/users`` (``users(api)``) and returns the users with
their manager as an email (what a file names), plus the caller's email. ``to_fields``
turns a planned row into the bulk endpoint's fields.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from itertools import islice

from .model import UserRow

# Qylon's CSV field -> the server's field, where the names differ.
SERVER_NAMES = {"first_name": "given_name", "last_name": "family_name", "manager": "manager_email"}


def fetch(api, *, page_size: int = 1000) -> tuple[list[dict], str]:
    """Every user on the server as a UserRow-shaped dict, and the caller's email."""
    me = api.get("/v1/me")["user"]["email"]
    return rows_from_server(users(api, page_size=page_size)), me


def users(api, *, page_size: int = 1000) -> Iterator[dict]:
    """Every user on the server, by email, a page at a time: each page asks for the users
    after the last email seen (offset pages get slower the deeper they go)."""
    first, after = None, None
    while True:
        items = api.get("/v1/users", limit=page_size, after=after)["items"]
        if after is not None and items and items[0]["email"] == first:
            # a server from before keyset paging ignores `after`: go on by offset
            yield from islice(api.pages("/v1/users", page_size=page_size), page_size, None)
            return
        yield from items
        if len(items) < page_size:
            return
        first = first or items[0]["email"]
        after = items[-1]["email"]


def group_names(api) -> list[str]:
    """The names of the groups on the server."""
    return [g["name"] for g in api.pages("/v1/groups", page_size=1000)]


def rows_from_server(users: Iterable[dict]) -> list[dict]:
    """Convert as the pages stream (only the compact rows are kept; fields that are not
    set are left out), then name each manager by email."""
    email_of: dict[str, str] = {}
    rows, manager_ids = [], []
    for u in users:
        email_of[u["id"]] = u["email"]
        manager_ids.append(u.get("manager_id"))
        row = {
            "email": u["email"],
            "first_name": u.get("given_name"),
            "last_name": u.get("family_name"),
            "display_name": u.get("display_name"),
            "role": u.get("role"),
            "team": u.get("team"),
            "groups": u.get("groups"),
            "title": u.get("title"),
            "department": u.get("department"),
            "location": u.get("location"),
            "start_date": u.get("start_date"),
            "phone": u.get("phone"),
            "time_zone": u.get("time_zone"),
            "status": "suspended" if u.get("status") == "deactivated" else "active",
            "attributes": u.get("attributes") or {},
        }
        rows.append({k: _shared(k, v) for k, v in row.items() if v is not None})
    for row, manager_id in zip(rows, manager_ids, strict=True):
        if manager_id and manager_id in email_of:
            row["manager"] = email_of[manager_id]
    return rows


_REPEATED = {"first_name", "role", "team", "title", "department", "location", "status"}


def _shared(key: str, value):
    """One string object for values many users share (memory of 100,000-user orgs)."""
    if key in _REPEATED and isinstance(value, str):
        return sys.intern(value)
    if key == "groups" and isinstance(value, list):
        return tuple(sys.intern(g) for g in value)
    return value


def to_fields(user: UserRow, names: Iterable[str] | None = None) -> dict:
    """The bulk fields for ``user``: all it gives, or only ``names`` (CSV field names,
    ``attr:NAME`` included) for an update."""
    data = user.model_dump(mode="json", exclude_none=True)
    wanted = set(names) if names is not None else None
    fields: dict = {}
    for name, value in data.items():
        if name in ("email", "attributes") or (wanted is not None and name not in wanted):
            continue
        if name == "status":
            fields["active"] = value == "active"
        else:
            fields[SERVER_NAMES.get(name, name)] = value
    attributes = {
        k: v for k, v in user.attributes.items() if wanted is None or f"attr:{k}" in wanted
    }
    if attributes:
        fields["attributes"] = attributes
    return fields
