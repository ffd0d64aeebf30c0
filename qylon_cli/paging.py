"""Lists from the team server, one page or (``--paginate``) all of them, in the one list
shape (``{"items", "total", "limit", "offset"}``, see ``output.emit_list``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

PaginateOption = Annotated[
    bool,
    typer.Option(
        "--paginate",
        help="Fetch every page, not just one (--limit and --offset are then ignored).",
    ),
]


def fetch(api, path: str, *, paginate: bool, limit: int, offset: int, **params) -> dict[str, Any]:
    """One page of ``path`` as the server returns it, or every item in one page."""
    if paginate:
        items = list(api.pages(path, **params))
        return {"items": items, "total": len(items), "limit": None, "offset": 0}
    return api.get(path, limit=limit, offset=offset, **params)


def emit(page: dict[str, Any], human) -> None:
    """Print a page from ``fetch``: ``human(console, items, total)`` for people."""
    from . import output

    output.emit_list(
        page["items"],
        lambda console, items: human(console, items, page["total"]),
        total=page["total"],
        limit=page["limit"],
        offset=page["offset"],
    )
