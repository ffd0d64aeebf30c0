"""`qylon meeting push ID --to hubspot`: a meeting's note and action items into a CRM.

Attached to the `meeting` group by ``register(app)``; the work is in ``sync.crm``, the
CRM's side in its plugin (``qylon_cli.providers.MeetingPusher``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output

from .params import EmailOption, complete_meeting


def push(
    meeting_id: Annotated[
        str | None,
        typer.Argument(
            metavar="ID",
            help="The meeting's id (or a unique prefix of it).",
            autocompletion=complete_meeting,
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        str, typer.Option("--to", help="The CRM: hubspot or salesforce.", show_default=False)
    ] = ...,
    email: EmailOption = None,
    json: output.JsonOption = False,
) -> None:
    """Push a meeting to a CRM: a note with the summary and decisions, and one task per
    action item (assigned to the CRM user whose name or email is the item's owner, due on
    its due date), on the contact with a participant's email, else on the company named as
    the meeting's client.

    Pushing again updates what the last push created, never duplicates it (the CRM's ids
    are kept with the meeting). Rate limits are waited out. When some items fail the others
    still go; the report lists each, and the command exits 7 (partially applied): run it
    again to retry what failed. Without the CRM's plugin installed it exits 2 naming the extra.

    Example: qylon meeting push 3f2a --to hubspot --email dana@acme.example

    Example: qylon meeting push 3f2a --to salesforce --json
    """
    from qylon_cli.errors import UsageError

    from ..store.database import Store
    from ..sync import crm

    crm.pusher(to)
    if meeting_id is None:
        raise UsageError("Missing argument ID: which meeting to push.", hint="qylon meeting list")
    result = crm.push(Store(), meeting_id, to, emails=email or [])
    data = result.model_dump(mode="json")
    output.emit(data, lambda c: _human(c, data))


def _human(console, data: dict) -> None:
    target = data["target"]
    console.print(
        f"Pushed to {data['provider']}: {target['type']} {target['name']} ({target['id']})"
    )
    for item in data["items"]:
        console.print(f"  {item['key']}: {item['outcome']} {item['crm_id'] or ''}")
    for warning in data["warnings"]:
        output.warn(warning)


def register(app: typer.Typer) -> None:
    app.command("push")(push)
