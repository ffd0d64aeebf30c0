"""`qylon meeting record`, `meeting devices` and `meeting recover`.

Recording is crash-safe (see recording/files.py); stopping with Ctrl-C or SIGTERM finalises
the file and then transcribes it like `meeting transcribe`.
"""

from __future__ import annotations

import shutil
import signal
from contextlib import contextmanager
from datetime import UTC
from typing import Annotated

import typer

from qylon_cli import output
from qylon_cli.errors import Interrupted, QylonError, UsageError

from .params import client_option

MAX_RATE = 48000


def offer_encryption(settings, base) -> None:
    """The first recording on this device, on a terminal: offer encryption at rest once
    (docs/privacy.md). The answer is kept, so it is never asked again."""
    import sys

    from qylon_cli import paths

    asked = settings.lookup("privacy.encrypt").source != "default"
    if asked or not output.interactive() or not sys.stdout.isatty():
        return
    if (paths.home() / "qylon.db").exists() or any(base.iterdir()):
        return  # not the first run: `qylon privacy status` tells how to turn it on
    wanted = typer.confirm(
        "Encrypt recordings and transcripts on this device (recommended for client meetings;"
        " the key goes to your OS keyring, or behind a passphrase)?",
        default=True,
    )
    settings.set("privacy.encrypt", "true" if wanted else "false")
    output.info(
        "Encryption is on: see `qylon privacy status`."
        if wanted
        else "Encryption stays off; `qylon config set privacy.encrypt true` turns it on."
    )


def _pending_note(base) -> None:
    from ..recording.files import pending

    waiting = pending(base)
    if waiting:
        output.warn(
            f"{len(waiting)} interrupted recording(s) not yet recovered "
            f"({', '.join(r.id[:8] for r in waiting)}): `qylon meeting recover` finishes them."
        )


def _disk_check(base, settings, rate: int, channels: int, max_duration: float | None) -> None:
    free = shutil.disk_usage(base).free
    hours = (max_duration or 3600) / 3600
    need = max(
        int(rate * channels * 2 * 3600 * hours),
        int(settings.get("record.min_free_mb", 500)) * 1024 * 1024,
    )
    if free < need:
        output.warn(
            f"Only {free / 1e6:.0f} MB free in {base}: about {hours * rate * channels * 2 * 3.6e3 / 1e6:.0f} MB "
            f"is needed per {'recording' if max_duration else 'hour'}. Recording stops cleanly if the disk fills up."
        )


@contextmanager
def _signals(recorder):
    """SIGINT/SIGTERM/SIGHUP stop cleanly; SIGUSR1 pauses or resumes."""
    wanted = {
        signal.SIGINT: lambda *_: recorder.request_stop("signal"),
        signal.SIGTERM: lambda *_: recorder.request_stop("signal"),
    }
    for name in ("SIGHUP",):
        if hasattr(signal, name):
            wanted[getattr(signal, name)] = lambda *_: recorder.request_stop("signal")
    if hasattr(signal, "SIGUSR1"):
        wanted[signal.SIGUSR1] = lambda *_: recorder.toggle_pause()
    saved = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _capture(rec, sources, rate, settings, *, title, max_duration, live, opts):
    from ..recording.capture import capture
    from ..recording.livetext import LiveTranscriber
    from ..store.formats import short_clock
    from .liveview import LiveView, keys

    view = LiveView(title)
    lines = (
        LiveTranscriber(
            rate,
            opts,
            lambda t, text: view.event("live", f"[{short_clock(t)}] {text}"),
            settings=settings,
        )
        if live
        else None
    )

    @contextmanager
    def around(recorder):
        with _signals(recorder), view.running(recorder), keys(recorder, output.interactive()):
            yield

    try:
        return capture(
            rec,
            sources,
            rate,
            settings=settings,
            max_duration=max_duration,
            on_event=view.event,
            on_audio=lines.feed if lines else None,
            on_tick=view.tick,
            around=around,
        )
    finally:
        if lines:
            lines.close()


def _transcribe(rec, settings, model):
    from ..recording import recover as recover_mod
    from ..speech import transcribe as stt
    from .background import agent_client, run_in_agent
    from .progress import audio_progress

    agent = agent_client()
    opts = stt.options_from_settings(settings, model=model)
    try:
        if agent is not None:  # the agent has the model loaded: let it do the work
            options = {"model": model} if model else {}
            job = run_in_agent(
                agent,
                "recording",
                {"recording_id": rec.id, "options": options},
                "Transcribing (agent)",
            )
            from ..store.database import Store

            return Store().get_meeting(job["result"]["meeting_id"])
        with audio_progress(
            f"Transcribing {rec.meta.get('title') or 'the recording'}"
        ) as on_progress:
            return recover_mod.transcribe(
                rec, opts, settings=settings, on_progress=on_progress, on_warning=output.warn
            )
    except KeyboardInterrupt:
        raise Interrupted(
            f"Transcription interrupted; the recording is kept in {rec.folder}.",
            hint="`qylon meeting recover` transcribes it.",
        ) from None
    except QylonError as exc:
        rec.update(transcribe=False, transcribe_error=exc.message)
        exc.hint = (exc.hint + " " if exc.hint else "") + f"The recording is kept: {rec.audio}"
        raise


def _calendar_event(settings) -> dict | None:
    """The calendar's event on now (when calendar.provider is set): its title, client and
    attendees for the recording; a calendar that fails only warns."""
    from .. import calendar
    from ..store.database import Store

    event = calendar.for_recording(Store(), settings, on_warning=output.warn)
    if event:
        client = f", client {event['client']}" if event["client"] else ""
        output.info(f"From the calendar: {event['title']}{client}")
    return event


def record(
    title: Annotated[
        str | None, typer.Option(help="Meeting title (default: 'Recording' and the start time).")
    ] = None,
    client: Annotated[str | None, client_option("The client this meeting is with.")] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help="Input to record: a name, part of one, or an index from `meeting devices`."
        ),
    ] = None,
    system_audio: Annotated[
        bool,
        typer.Option(
            "--system-audio/--no-system-audio",
            help="Also record what the computer plays (the other side of a call), as channel 2.",
        ),
    ] = True,
    max_duration: Annotated[
        float | None, typer.Option(min=0.5, help="Stop by itself after this many seconds of audio.")
    ] = None,
    no_transcribe: Annotated[
        bool,
        typer.Option(
            "--no-transcribe",
            help="Only record; transcribe later with `meeting transcribe` on the file.",
        ),
    ] = False,
    live: Annotated[
        bool, typer.Option("--live", help="Show a live transcript while recording (bundled model).")
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="Model for the final transcript (default: transcribe.model).")
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Record a meeting (microphone and system audio), then transcribe and store it.

    Stop with Ctrl-C, q or SIGTERM; pause and resume with p, space or SIGUSR1. Audio
    reaches the disk every second: after a crash, `qylon meeting recover` finishes it.

    With calendar.provider set, the event on now gives the title and the client (unless
    --title/--client say otherwise), and its attendees are kept as the meeting's participants.

    Example: qylon meeting record --title "Weekly sync" --client Acme
    """
    from datetime import datetime

    from qylon_cli import settings as settings_mod

    from ..recording import devices
    from ..recording import files as recording
    from ..speech import transcribe as stt

    settings = settings_mod.load()
    base = recording.root(settings)
    offer_encryption(settings, base)
    _pending_note(base)
    sources, notes = devices.pick(device, system_audio)
    for note in notes:
        output.info(note)
    rate = min(sources[0].default_rate or MAX_RATE, MAX_RATE)
    _disk_check(base, settings, rate, len(sources), max_duration)
    event = _calendar_event(settings) if title is None or client is None else None
    if event:
        title, client = title or event["title"], client or event["client"]
    title = title or f"Recording {datetime.now():%Y-%m-%d %H:%M}"
    rec = recording.Recording.create(
        base,
        title=title,
        client=client,
        calendar=event,
        rate=rate,
        channels=len(sources),
        transcribe=not no_transcribe,
        sources=[{"channel": i, "name": s.name, "kind": s.kind} for i, s in enumerate(sources)],
    )
    live_opts = stt.options_from_settings(
        settings, model=stt.BUNDLED, beam_size=1
    )  # fast enough to keep up
    result = _capture(
        rec,
        sources,
        rate,
        settings,
        title=title,
        max_duration=max_duration,
        live=live,
        opts=live_opts,
    )
    output.info(f"Recorded {result.seconds:.1f} s to {rec.audio}")
    meeting = None if no_transcribe else _transcribe(rec, settings, model)
    _emit(rec, meeting)


def _emit(rec, meeting) -> None:
    from . import render

    data = {
        "recording": rec.summary(),
        "meeting": render.meeting_summary(meeting) if meeting else None,
    }

    def human(console) -> None:
        if meeting:
            render.transcript(console, meeting)
        else:
            console.print(
                f"Recording {rec.id[:8]} kept at {rec.audio} ({rec.meta.get('duration_s', 0):.1f} s)"
            )

    output.emit(data, human)


def devices_cmd(json: output.JsonOption = False) -> None:
    """List audio inputs: microphones and loopback (system audio) sources.

    Example: qylon meeting devices
    """
    from rich.table import Table

    from ..recording import devices

    rows = [s.to_dict() for s in devices.list_sources()]

    def human(console, rows) -> None:
        table = Table(box=None)
        for col in ("", "name", "kind", "via", "rate", "description"):
            table.add_column(col)
        for r in rows:
            via = f"PortAudio #{r['index']}" if r["backend"] == "portaudio" else "PulseAudio"
            table.add_row(
                "*" if r["default"] else "",
                r["name"],
                r["kind"],
                via,
                str(r["default_rate"]),
                r["description"],
            )
        console.print(table if rows else "No audio inputs found.")

    output.emit_list(rows, human)


def recover(
    recording_id: Annotated[
        str | None,
        typer.Argument(help="Only this recording (an id or prefix).", show_default=False),
    ] = None,
    no_transcribe: Annotated[
        bool, typer.Option("--no-transcribe", help="Only finalise the audio files.")
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="Model for the transcript (default: transcribe.model).")
    ] = None,
    on: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="With a recording id: the day of the meeting, YYYY-MM-DD (default: when the recorder started).",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--time", help="With a recording id: when it started, HH:MM local time."),
    ] = None,
    json: output.JsonOption = False,
) -> None:
    """Finish interrupted recordings: repair the audio file, then transcribe and store it.

    The meeting is dated when the recorder started, unless --date/--time say otherwise.

    Example: qylon meeting recover
    Example: qylon meeting recover 3f2a --date 2026-11-18 --time 14:00
    """
    from qylon_cli import settings as settings_mod

    from ..recording import files as recording

    settings = settings_mod.load()
    base = recording.root(settings)
    todo = [recording.get(base, recording_id)] if recording_id else recording.pending(base)
    if recording_id and todo[0].is_live():
        raise UsageError(f"Recording {todo[0].id[:8]} is still being recorded by another process.")
    if on or at:
        if not recording_id:
            raise UsageError(
                "--date and --time date one recording: give its id.",
                hint="qylon meeting recover ID --date 2026-11-18",
            )
        _date_recording(todo[0], on, at)
    done = [_recover_one(rec, settings, model, no_transcribe) for rec in todo]
    output.emit(
        done,
        lambda c: c.print(
            "\n".join(
                f"{d['recording']['id'][:8]} {d['recording']['state']:9} {d['recording']['duration_s'] or 0:7.1f} s  {d['recording']['audio_path']}"
                + (f"  [red]{d['error']['message']}[/]" if d["error"] else "")
                for d in done
            )
            or "No interrupted recordings."
        ),
    )
    if any(d["error"] for d in done):
        raise typer.Exit(1)


def _date_recording(rec, on: str | None, at: str | None) -> None:
    """Remember the date given for a recording; its meeting is dated so (recover.transcribe)."""
    from datetime import datetime

    from ..store.meeting_date import parse_given

    started = rec.meta.get("started_at") or rec.meta.get("created_at")
    default = datetime.fromtimestamp(started, UTC) if started else None
    rec.update(date_given=parse_given(on, at, default=default).isoformat())


def _recover_one(rec, settings, model, no_transcribe: bool) -> dict:
    from ..recording import recover as recover_mod

    recover_mod.finalise(rec)
    output.info(
        f"Recording {rec.id[:8]}: {rec.state}, {rec.meta.get('duration_s') or 0:.1f} s of audio."
    )
    meeting, error = None, None
    if rec.state == "finalised" and no_transcribe:
        rec.update(transcribe=False)
    elif rec.state == "finalised":
        try:
            meeting = _transcribe(rec, settings, model)
        except Interrupted:
            raise
        except QylonError as exc:
            error = exc.to_dict()
    return {
        "recording": rec.summary(),
        "meeting_id": meeting.id if meeting else None,
        "error": error,
    }


def register(app: typer.Typer) -> None:
    app.command("record")(record)
    app.command("devices")(devices_cmd)
    app.command("recover")(recover)
