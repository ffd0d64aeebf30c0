"""`qylon meeting ...`: transcribe, list, show, search, export, delete; and the group.

The whole `meeting` group is composed at the bottom of this module, in one place: these
commands, and those of meeting_speakers, insights, meeting_import, meeting_push, meeting_edit
and record, whose modules are imported (and their commands built) only when a command line
names one of their commands (``finish.Deferred``).
Commands parse options, call the library and render; heavy imports stay inside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.cli.finish import deferred_class
from qylon_cli.errors import Interrupted

from .insights import ExtractorOption, FallbackOption, chosen, record_extractor, store_despite
from .params import IdArg, client_option

DateOption = Annotated[
    str | None,
    typer.Option(
        "--date", help="The day of the meeting, YYYY-MM-DD (default: the recording's own date)."
    ),
]
TimeOption = Annotated[
    str | None, typer.Option("--time", help="When it started, HH:MM local time.")
]


def _store():
    from ..store.database import Store

    return Store()


def transcribe(
    file: Annotated[
        Path, typer.Argument(help="WAV, FLAC, MP3, M4A, OGG/Opus or WebM.", show_default=False)
    ],
    title: Annotated[
        str | None, typer.Option(help="Meeting title (default: the file name).")
    ] = None,
    client: Annotated[
        str | None,
        client_option("The client this meeting was with."),
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="Language code, e.g. en; fixed for the whole file.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model name (bundled tiny.en or one in [models]) or a CTranslate2 folder."
        ),
    ] = None,
    beam_size: Annotated[
        int | None, typer.Option(min=1, max=20, help="Beam size for decoding (default 5).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    batched: Annotated[
        bool | None,
        typer.Option(
            "--batched/--sequential",
            help="Decode stretches of speech in batches (faster on long files) or one window "
            "after another (default: transcribe.batched, auto: batched beyond "
            "transcribe.batched_after_s).",
            show_default=False,
        ),
    ] = None,
    diarize: Annotated[
        bool | None,
        typer.Option(
            "--diarize/--no-diarize",
            help="Find who spoke when (default: speakers.diarize, on).",
            show_default=False,
        ),
    ] = None,
    speakers: Annotated[
        int | None,
        typer.Option("--speakers", min=1, max=20, help="Exact number of speakers, if known."),
    ] = None,
    min_speakers: Annotated[
        int | None, typer.Option(min=1, max=20, help="At least this many speakers.")
    ] = None,
    max_speakers: Annotated[
        int | None, typer.Option(min=1, max=20, help="At most this many speakers (default 10).")
    ] = None,
    extractor: ExtractorOption = None,
    fallback: FallbackOption = None,
    on: DateOption = None,
    at: TimeOption = None,
    background: Annotated[
        bool,
        typer.Option(
            "--background",
            help="Hand the work to the running agent (qylon agent start); in this process if none runs.",
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            help="With --background: wait for the result (or print the job id and return)."
        ),
    ] = True,
    json: output.JsonOption = False,
) -> None:
    """Transcribe an audio file offline, find who spoke when, and store it as a meeting.

    The meeting's date is the recording's own (its tags, else the file's time) unless
    --date/--time say otherwise; due dates such as "by Friday" count from it.

    Example: qylon meeting transcribe interview.m4a --title "Kick-off" --client Acme --date 2026-11-18
    """
    from ..store.meeting_date import parse_given

    recorded_at = parse_given(on, at)
    if background:
        from .background import transcribe_in_agent

        overrides = {
            "model": model,
            "beam_size": beam_size,
            "language": language,
            "device": device,
            "batched": _mode(batched),
        }
        speaker_flags = {
            "diarize": diarize,
            "speakers": speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
        }
        name, fall = chosen(extractor, fallback)
        if transcribe_in_agent(
            file,
            title=title,
            client=client,
            options=overrides,
            speakers=speaker_flags,
            extractor=name,
            wait=wait,
            fallback=fall,
            recorded_at=recorded_at,
        ):
            return
    try:  # from here on, Ctrl-C is reported as such (loading the libraries and model can take seconds)
        from qylon_cli import settings as settings_mod

        from .. import insights, pipeline
        from ..speech import transcribe as stt
        from .meeting_speakers import speaker_options
        from .progress import audio_progress

        settings = settings_mod.load()
        opts = stt.options_from_settings(
            settings,
            model=model,
            beam_size=beam_size,
            language=language,
            device=device,
            batched=_mode(batched),
        )
        diarization, naming = speaker_options(
            settings, diarize, speakers, min_speakers, max_speakers
        )
        with audio_progress(f"Transcribing {file.name}") as on_progress:
            try:
                meeting = pipeline.transcribe_file(
                    file,
                    opts,
                    title=title,
                    client=client,
                    settings=settings,
                    on_progress=on_progress,
                    extractor=extractor,
                    fallback=chosen(extractor, fallback)[1],
                    on_warning=(warned := []).append,
                    diarization=diarization,
                    naming=naming,
                    recorded_at=recorded_at,
                    heard=(heard := {}),
                )
            except insights.InsightsFailed as failed:
                store_despite(_store(), failed)
        store = _store()
        store.save_meeting(meeting, audio_path=meeting.source)
        record_extractor(
            store, meeting.id, extractor, settings, warned, fell_back=heard["fell_back"]
        )
    except KeyboardInterrupt:
        raise Interrupted("Transcription interrupted; nothing was stored.") from None

    from . import render

    data = {**render.meeting_summary(meeting), **render.heard(heard)}
    output.emit(data, lambda c: render.transcript(c, meeting))


def _mode(batched: bool | None) -> str | None:
    """--batched/--sequential as the transcribe.batched setting's value (None: not given)."""
    return None if batched is None else ("true" if batched else "false")


def list_(
    client: Annotated[
        str | None, client_option("Only meetings with this client.", files=False)
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many, newest first.")
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """List stored meetings, newest first.

    Example: qylon meeting list --client Acme
    """
    rows = _store().list_meetings(client=client, limit=limit)
    output.emit_list(rows, _table)


def _table(console, rows) -> None:
    """The list for people (render and Rich's tables are not imported for --json)."""
    from . import render

    render.meeting_list(console, rows)


def show(meeting_id: IdArg, json: output.JsonOption = False) -> None:
    """Show a stored meeting's transcript.

    Example: qylon meeting show 3f2a
    """
    from . import render

    meeting = _store().get_meeting(meeting_id)
    output.emit(render.meeting_summary(meeting), lambda c: render.transcript(c, meeting))


def search(
    query: Annotated[
        str,
        typer.Argument(help="Words to find; a trailing * matches a prefix.", show_default=False),
    ],
    client: Annotated[
        str | None, client_option("Only meetings with this client.", files=False)
    ] = None,
    speaker: Annotated[
        str | None,
        typer.Option(help="Only what this person said (a name, or a label such as SPEAKER_2)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many hits.")] = 50,
    json: output.JsonOption = False,
) -> None:
    """Search every stored transcript (full text), with snippets, timestamps and who said it.

    Example: qylon meeting search "proposal budget"
    Example: qylon meeting search budget --speaker "Dana Lee"
    """
    from ..store.database import MARK_END, MARK_START
    from . import render

    hits = _store().search(query, client=client, speaker=speaker, limit=limit)
    data = [
        {**h, "snippet": h["snippet"].replace(MARK_START, "[").replace(MARK_END, "]")} for h in hits
    ]
    output.emit_list(data, lambda c, _: render.search_hits(c, hits))


def export(
    meeting_id: IdArg,
    format: Annotated[
        str, typer.Option("--format", "-f", help="txt, md, srt, vtt or json.")
    ] = "md",
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Export a meeting as text, Markdown, SRT or WebVTT subtitles, or JSON.

    Example: qylon meeting export 3f2a --format srt -o call.srt
    """
    from qylon_cli.errors import UsageError

    from ..store.formats import FORMATS, render

    if format not in FORMATS:
        raise UsageError(
            f"Unknown format {format!r}.", hint=f"Choose one of: {', '.join(FORMATS)}."
        )
    text = render(_store().get_meeting(meeting_id), format)
    if out is None:
        typer.echo(text, nl=False)
        return
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    output.info(f"Wrote {out}")


def delete(
    meeting_id: IdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json: output.JsonOption = False,
) -> None:
    """Delete a stored meeting and everything in it.

    Example: qylon meeting delete 3f2a --yes
    """
    store = _store()
    meeting = store.get_meeting(meeting_id)
    output.confirm(
        f"Delete meeting {meeting.id[:8]} '{meeting.title}'?", yes=yes, action="Deleting a meeting"
    )
    store.delete_meeting(meeting.id)
    output.emit(
        {"id": meeting.id, "deleted": True}, lambda c: c.print(f"Deleted meeting {meeting.id[:8]}")
    )


# -- the `meeting` group, composed in one place (in the order `--help` lists it) --
def _speakers(group: typer.Typer) -> None:
    from . import meeting_speakers

    meeting_speakers.register(group)  # speakers, rename-speaker


def _insights(group: typer.Typer) -> None:
    from . import insights, meeting_edit

    insights.register(group)  # analyze, summary, actions (list, done, reopen)
    meeting_edit.register(group, insights.actions)  # edit, fix, actions add|edit


def _one(module: str):
    def register(group: typer.Typer) -> None:
        import importlib

        importlib.import_module(f"{__package__}.{module}").register(group)

    return register


LATER = {
    "speakers": _speakers,
    "rename-speaker": _speakers,
    **dict.fromkeys(("analyze", "summary", "actions", "edit", "fix"), _insights),
    "import": _one("meeting_import"),
    "push": _one("meeting_push"),  # to a CRM
    "follow-up": _one("meeting_followup"),  # the email draft
    **dict.fromkeys(("record", "devices", "recover"), _one("record")),
    "calendar": _one("meeting_calendar"),
}
ORDER = [
    "transcribe", "speakers", "rename-speaker", "list", "show", "search", "export", "delete",
    "analyze", "summary", "import", "push", "follow-up", "edit", "fix", "record", "devices",
    "recover", "calendar", "actions",
]  # fmt: skip
app = typer.Typer(no_args_is_help=True, cls=deferred_class(ORDER, LATER))
app.command()(transcribe)
app.command("list")(list_)
for command in (show, search, export, delete):
    app.command()(command)
