"""Finish recordings: finalise the WAV, then transcribe and store it as a meeting.

Used by ``meeting record`` when it stops and by ``meeting recover`` for recordings
whose recorder died (SIGKILL, a crash, a power cut) or whose transcription did not
finish. Each step is recorded in the manifest, so running it twice is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from .files import Recording, finalise_audio


def finalise(rec: Recording) -> Recording:
    """Make the audio a valid, complete WAV and note its length; idempotent."""
    if rec.state == "recording":
        rec.release_reserve()
        if not rec.audio.exists():
            rec.update(state="empty", duration_s=0.0)
            return rec
        info = finalise_audio(rec.audio)
        rec.update(
            state="finalised" if info.frames else "empty",
            duration_s=round(info.seconds, 3),
            recovered=rec.meta.get("pid") is not None and rec.meta.get("stopped_by") is None,
        )
    return rec


def transcribe(
    rec: Recording,
    opts,
    *,
    settings=None,
    on_progress: Callable[[float, float], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
):
    """Transcribe a finalised recording through the same pipeline as `meeting transcribe`; store it."""
    from .. import pipeline
    from ..store.database import Store

    started = rec.meta.get("started_at") or rec.meta.get("created_at")
    given = rec.meta.get("date_given")  # `meeting recover ID --date/--time`
    event = rec.meta.get("calendar")  # the calendar event it was recorded in
    meeting = pipeline.transcribe_file(
        rec.audio,
        opts,
        title=rec.meta.get("title") or _default_title(rec),
        client=rec.meta.get("client"),
        meeting_id=rec.id,
        settings=settings,
        on_progress=on_progress,
        on_warning=on_warning,
        # The recorder's start time, before the insights: due dates count from the meeting's day.
        recorded_at=datetime.fromisoformat(given)
        if given
        else datetime.fromtimestamp(started, UTC)
        if started
        else None,
        date_source="given" if given else "recorder",
        participants=(event or {}).get("attendees"),
    )
    store = Store()
    try:
        store.save_meeting(meeting, audio_path=str(rec.audio))
        if event:
            store.set_meeting_event(
                meeting.id,
                event["provider"],
                event["event_id"],
                event.get("client"),
                event.get("attendees") or [],
            )
    finally:
        store.close()
    rec.update(state="done", meeting_id=meeting.id, transcribe_error=None)
    return meeting


def _default_title(rec: Recording) -> str:
    started = rec.meta.get("started_at") or rec.meta.get("created_at")
    when = datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M") if started else rec.id[:8]
    return f"Recording {when}"
