"""`qylon meeting speakers ID` and `qylon meeting rename-speaker ID LABEL NAME [--enroll]`,
plus the speaker options `qylon meeting transcribe` takes."""

from __future__ import annotations

from typing import Annotated

import typer

from qylon_cli import output

from .params import IdArg


def speaker_options(
    settings,
    diarize: bool | None,
    speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
):
    """(diarize.Options or None, attribution.Naming) from flags and settings; profiles from the store."""
    from ..speech.attribution import from_settings

    if diarize is False and (speakers or min_speakers or max_speakers):
        output.warn("--speakers/--min-speakers/--max-speakers are ignored with --no-diarize.")
    return from_settings(
        settings,
        diarize=diarize,
        num_speakers=speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
    )


def speakers(
    meeting_id: IdArg,
    action: Annotated[
        str | None, typer.Argument(help="accept: take a suggested name.", show_default=False)
    ] = None,
    label: Annotated[
        str | None,
        typer.Argument(
            help="With accept: the speaker (SPEAKER_2, 2 or a name).", show_default=False
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Argument(
            help="With accept: the name (default: their best suggestion).", show_default=False
        ),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Show who spoke in a meeting: talk time, share, turns, a sample quote, the name and
    where it came from (profile, conversation, user, local), and the names the conversation
    suggests, with the quotes behind them. `accept SPEAKER_n [NAME]` takes a suggestion.

    Example: qylon meeting speakers 3f2a
    Example: qylon meeting speakers 3f2a accept SPEAKER_3        # their best suggestion
    Example: qylon meeting speakers 3f2a accept 3 "Dana Lee"
    """
    from ..speech import speaker_names
    from ..store.database import Store

    store = Store()
    meeting = store.get_meeting(meeting_id)
    if action is None:
        rows = speaker_names.report(meeting)
        output.emit_list(rows, lambda c, _: speaker_table(c, meeting, rows))
        return
    if action != "accept" or label is None:
        from qylon_cli.errors import UsageError

        raise UsageError(f"Unknown action {action!r}: the one action is `accept SPEAKER_n [NAME]`.")
    speaker_id, chosen = speaker_names.accept(store, meeting, label, name)
    learnt = _learn(store, meeting, speaker_id, chosen)
    data = {
        "meeting_id": meeting.id,
        "speaker": speaker_id,
        "name": chosen,
        "name_source": "user",
        "learnt_for_client": learnt,
    }
    output.emit(
        data, lambda c: c.print(f"{speaker_id} in meeting {meeting.id[:8]} is now {chosen}")
    )


def _learn(store, meeting, speaker_id: str, name: str) -> str | None:
    """speakers.learn_per_client: learn the voice for the meeting's client; the client, or None."""
    from ..speech import speaker_names

    profile, warning = speaker_names.learn_for_client(store, meeting, speaker_id, name)
    if warning:
        output.warn(warning)
    return meeting.client if profile else None


def rename_speaker(
    meeting_id: IdArg,
    label: Annotated[
        str,
        typer.Argument(
            help="The speaker: SPEAKER_2 (or 2), or their current name.", show_default=False
        ),
    ],
    name: Annotated[str, typer.Argument(help="The name to show for them.", show_default=False)],
    enroll: Annotated[
        bool,
        typer.Option(
            "--enroll",
            help="Also add this voice to NAME's voice profile, so later meetings name them.",
        ),
    ] = False,
    json: output.JsonOption = False,
) -> None:
    """Name a speaker in a stored meeting (and optionally learn their voice).

    Example: qylon meeting rename-speaker 3f2a SPEAKER_2 "Dana Scully" --enroll
    """
    from ..speech import speaker_names
    from ..store.database import Store

    store = Store()
    meeting = store.get_meeting(meeting_id)
    speaker_id = speaker_names.find_label(meeting, label)
    profile = (
        speaker_names.enroll_from_meeting(store, meeting, speaker_id, name) if enroll else None
    )
    speaker_names.rename(store, meeting, speaker_id, name)
    learnt = None if enroll else _learn(store, meeting, speaker_id, name.strip())
    data = {
        "meeting_id": meeting.id,
        "speaker": speaker_id,
        "name": name.strip(),
        "profile": profile.public() if profile else None,
        "learnt_for_client": learnt,
    }
    msg = f"{speaker_id} in meeting {meeting.id[:8]} is now {name.strip()}" + (
        f"; voice added to the profile ({profile.samples} sample(s))" if profile else ""
    )
    output.emit(data, lambda c: c.print(msg))


def speaker_table(console, meeting, rows: list[dict]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..store.formats import short_clock

    console.print(
        f"[bold]{escape(meeting.title)}[/]  [dim]{short_clock(meeting.duration_s)} · id {meeting.id[:8]}[/]"
    )
    if not rows:
        console.print("[dim]No speakers: this meeting was transcribed without diarization.[/]")
        return
    table = Table(show_header=True, box=None, pad_edge=False)
    for col in ("speaker", "name", "from", "talk", "share", "turns", "sample quote"):
        table.add_column(col, no_wrap=col != "sample quote")
    for r in rows:
        table.add_row(
            r["id"],
            escape(r["name"] or "—"),
            r["name_source"] or "",
            short_clock(r["talk_time_s"]),
            f"{r['share']:.0%}",
            str(r["segments"]),
            escape(f"“{r['quote']}”" if r["quote"] else ""),
        )
    console.print(table)
    for r in rows:
        for sug in r["suggestions"]:
            if sug["name"] == r["name"] and r["name_source"] == "conversation":
                why = "named from the conversation"
            else:
                why = f"suggested ({sug['confidence']:.0%}): `qylon meeting speakers {meeting.id[:8]} accept {r['id']} {sug['name']}`"
            console.print(f"[bold]{r['id']}[/] {escape(sug['name'])}: {why}")
            for ev in sug["evidence"][:3]:
                console.print(
                    f"   [dim]{short_clock(ev['at'])} {ev['kind']}:[/] “{escape(ev['quote'])}”"
                )


def register(app: typer.Typer) -> None:
    app.command("speakers")(speakers)
    app.command("rename-speaker")(rename_speaker)
