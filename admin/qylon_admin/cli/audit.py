"""`qylon audit list`: who did what on the team server, newest first, a page at a time
(``GET /v1/audit-events``; needs an admin's key)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from qylon_cli import output, paging
from qylon_cli.client import ApiClient

from .completions import complete_email

app = typer.Typer(
    no_args_is_help=True,
)

_AGO = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def since_time(value: str, *, now: datetime | None = None) -> str:
    """``30m``, ``24h``, ``7d``, ``2w`` ago, or an ISO date or time (UTC when it has no
    offset), as the ISO time the server takes; else a usage error."""
    from qylon_cli.errors import UsageError

    text = value.strip().lower()
    ago = _AGO.match(text)
    if ago:
        delta = timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
        return ((now or datetime.now(UTC)) - delta).isoformat()
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"--since: {value!r} is neither a time ago nor an ISO date.",
            hint="e.g. --since 24h, --since 7d, --since 2026-12-01 or --since 2026-12-01T09:00+01:00.",
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def _actor_id(api, ref: str) -> str:
    from .users_admin import resolve

    return resolve(api, ref)["id"] if "@" in ref else ref.strip()


def _emails(api, ids: set[str]) -> dict[str, str]:
    """The email of each actor (for people; an actor since gone shows as its id)."""
    from qylon_cli.errors import QylonError

    found = {}
    for user_id in ids:
        try:
            found[user_id] = api.get(f"/v1/users/{user_id}")["email"]
        except QylonError:
            pass
    return found


def _target(event: dict) -> str:
    """A user by email, a group by name (with the member added or removed), else the id."""
    detail = event.get("detail") or {}
    if event.get("target_type") == "group" and detail.get("name"):
        shown = detail["name"]
        if detail.get("email"):
            return f"{shown} {'+' if detail.get('added') else '-'}{detail['email']}"
    else:
        shown = detail.get("email") or detail.get("name") or event.get("target_id") or ""
    if detail.get("fields"):
        shown += f" ({', '.join(detail['fields'])})"
    return shown


def _table(emails: dict[str, str]):
    def draw(c, items: list[dict], total: int) -> None:
        from rich.table import Table
        from rich.text import Text

        if not items:
            c.print("No audit events.")
            return
        table = Table(box=None, header_style="bold")
        for col in ("When (UTC)", "Actor", "Action", "Target", "Via"):
            table.add_column(col)
        for e in items:
            at = datetime.fromisoformat(e["at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            actor = emails.get(e.get("actor_user_id") or "", e.get("actor_user_id") or "system")
            via = (e.get("detail") or {}).get("via", "")
            table.add_row(at, *(Text(v) for v in (actor, e["action"], _target(e), via)))
        c.print(table)
        if total > len(items):
            c.print(f"[dim]{len(items)} of {total}; use --limit/--offset for more.[/]")

    return draw


@app.command("list")
def list_cmd(
    actor: Annotated[
        str | None,
        typer.Option(help="Only what this user did (email or id).", autocompletion=complete_email),
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. user.update, group.create.")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Only events about this user (email) or thing (id).",
            autocompletion=complete_email,
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only since then: 24h, 7d, 2w or an ISO date or time.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    paginate: paging.PaginateOption = False,
    json: output.JsonOption = False,
) -> None:
    """List audit events, newest first (needs an admin's key).

    Example: qylon audit list --actor ann@example.com --since 7d --json
    """
    after = since_time(since) if since else None
    with ApiClient.from_credentials() as api:
        page = paging.fetch(
            api,
            "/v1/audit-events",
            paginate=paginate,
            limit=limit,
            offset=offset,
            action=action,
            actor_user_id=_actor_id(api, actor) if actor else None,
            target_id=_actor_id(api, target) if target else None,
            since=after,
        )
        ids = {e["actor_user_id"] for e in page["items"] if e.get("actor_user_id")}
        emails = {} if output.json_mode() else _emails(api, ids)
    paging.emit(page, _table(emails))
