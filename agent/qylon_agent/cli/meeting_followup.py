"""`qylon meeting follow-up ID`: draft the follow-up email (printed, edited or written to a file; never sent)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output

from .insights import Extractor, FallbackOption, chosen
from .params import EmailOption, IdArg


class Audience(str, Enum):
    client = "client"
    team = "team"


WriterOption = Annotated[
    Extractor | None,
    typer.Option(
        "--extractor",
        help="Write the draft with: offline (a template over the items) or llm (the model, checked against the "
        "items). Default: llm when a model is configured, the offline draft (with a warning) when it fails. An "
        "explicit llm fails: exit 1 unfaithful draft, 6 unreachable, 3 misconfigured, 4 key refused.",
    ),
]


class Format(str, Enum):
    md = "md"
    text = "text"


def follow_up(
    meeting_id: IdArg,
    to: Annotated[
        Audience,
        typer.Option(
            help="client: polite, names or “we” instead of speaker labels; team: terse, with item ids."
        ),
    ] = Audience.client,
    extractor: WriterOption = None,
    fallback: FallbackOption = None,
    format_: Annotated[
        Format, typer.Option("--format", help="Print or write Markdown (md) or plain text.")
    ] = Format.md,
    edit: Annotated[
        bool,
        typer.Option(
            "--edit", help="Open the draft in $EDITOR first; the edited text is printed or written."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the draft to this file instead of printing it."),
    ] = None,
    attach: Annotated[
        str | None,
        typer.Option(
            "--attach",
            help="Also attach the draft to the client's contact in a CRM (hubspot or salesforce), "
            "as a note; attached again, the note is updated.",
            show_default=False,
        ),
    ] = None,
    email: EmailOption = None,
    json: output.JsonOption = False,
) -> None:
    """Draft the follow-up email of a meeting: a short summary, the decisions, the action items with owners and due dates.

    Offline it is a template over the meeting's insights (found first, as `meeting analyze` does, when it has
    none); with a model (--extractor llm, or a configured one) the model writes it from the transcript and the
    draft must name every extracted item and no other (else exit 1, `followup_unfaithful`; without an explicit
    --extractor llm the offline draft is used with a warning). Nothing is sent; --attach
    puts the draft on the contact in your CRM as a note, as `meeting push` finds it.

    Example: qylon meeting follow-up 3f2a --to team --format text -o notes.txt

    Example: qylon meeting follow-up 3f2a --attach hubspot --email dana@acme.example

    Example: qylon meeting follow-up 3f2a --extractor llm --edit
    """
    from qylon_cli import settings as settings_mod

    from ..insights import followup
    from .insights import _store

    if attach:
        from ..sync import crm

        crm.pusher(attach)  # a missing plugin is a usage error before any work
    store = _store()
    meeting = store.get_meeting(meeting_id)
    settings = settings_mod.load()
    name, fall = chosen(extractor, fallback)
    if store.extractor(meeting.id) is None and not meeting.action_items:
        meeting = _analyzed(store, meeting, name, fall, settings)
    draft = followup.write(
        meeting, to=to.value, writer=name, fallback=fall, settings=settings, warn=output.warn
    )
    if edit:
        import click

        edited = click.edit(draft.markdown if format_ is Format.md else draft.text, extension=".md")
        if edited is not None:
            if format_ is Format.md:
                draft.markdown = edited
            else:
                draft.text = edited
    body = draft.markdown if format_ is Format.md else draft.text
    if out is not None:
        out.write_text(body, encoding="utf-8")
        output.info(f"Wrote the follow-up draft to {out}")
    data = draft.to_dict() | {"meeting_id": meeting.id}
    if attach:
        data["attached"] = _attach(store, meeting.id, attach, draft, email or [])
    if json:
        output.emit(data)
    elif out is None:
        output.emit(data, lambda c: _print(f"Subject: {draft.subject}\n\n{body}"))


def _attach(store, meeting_id: str, to: str, draft, emails: list[str]) -> dict:
    """The draft as a note on the CRM contact (its Markdown as HTML); what the CRM said."""
    from markdown_it import MarkdownIt

    from ..sync import crm

    html = MarkdownIt("commonmark").render(draft.markdown)
    result = crm.push(store, meeting_id, to, emails=emails, follow_up=(draft.subject, html))
    note = result.items[0]
    target = result.target
    output.info(
        f"Follow-up draft {note.outcome} as a note on the {to} {target.get('type', 'record')} "
        f"{target.get('name') or target.get('id')}."
    )
    return result.model_dump(mode="json")


def _print(text: str) -> None:
    import sys

    sys.stdout.write(text)
    sys.stdout.flush()


def _analyzed(store, meeting, name, fall, settings):
    """The meeting with insights found and stored, as `meeting analyze` would."""
    from .. import insights

    result = insights.analyze(
        meeting, extractor=name, fallback=fall, settings=settings, warn=output.warn
    )
    updated = insights.apply(meeting, result, previous=meeting.action_items)
    store.save_insights(
        meeting.id,
        items=updated.action_items,
        decisions=updated.decisions,
        summary=updated.summary,
        extractor="offline" if result.warnings else result.extractor,
    )
    return store.get_meeting(meeting.id)


def register(app: typer.Typer) -> None:
    app.command("follow-up")(follow_up)
