"""What each kind of job does. Handlers are idempotent: run twice, they have the
effect of running once (a transcription's meeting id is fixed when it is queued)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..store import Store

Progress = Callable[[float, float], None]


def transcribe(store: Store, payload: dict, progress: Progress) -> dict:
    from qylon_cli import settings as settings_mod

    from .. import insights, pipeline
    from .. import transcribe as stt

    settings = settings_mod.load()
    opts = stt.options_from_settings(settings, **payload.get("options", {}))
    meeting = pipeline.transcribe_file(
        Path(payload["path"]),
        opts,
        title=payload.get("title"),
        client=payload.get("client"),
        meeting_id=payload["meeting_id"],
        settings=settings,
        on_progress=progress,
        extractor=payload.get("extractor"),
        on_warning=(warnings := []).append,
    )
    store.save_meeting(meeting, audio_path=meeting.source)
    store.set_extractor(meeting.id, "offline" if warnings else insights.choose(payload.get("extractor"), settings))
    return {"meeting_id": meeting.id, "segments": len(meeting.segments), "warnings": warnings}


def recording(store: Store, payload: dict, progress: Progress) -> dict:
    """Finish a recording (finalise its audio, transcribe it); idempotent, as `meeting recover`."""
    from qylon_cli import settings as settings_mod
    from qylon_cli.errors import QylonError

    from .. import recover
    from .. import recording as recording_mod
    from .. import transcribe as stt

    settings = settings_mod.load()
    rec = recording_mod.get(recording_mod.root(settings), payload["recording_id"])
    if rec.is_live():
        raise QylonError(f"Recording {rec.id[:8]} is still being recorded.", code="still_recording")
    recover.finalise(rec)
    if rec.state == "empty":
        return {"recording_id": rec.id, "empty": True}
    if rec.meta.get("meeting_id"):
        return {"recording_id": rec.id, "meeting_id": rec.meta["meeting_id"]}
    opts = stt.options_from_settings(settings, **payload.get("options", {}))
    meeting = recover.transcribe(rec, opts, settings=settings, on_progress=progress)
    return {"recording_id": rec.id, "meeting_id": meeting.id, "segments": len(meeting.segments)}


HANDLERS: dict[str, Callable[[Store, dict, Progress], dict]] = {"transcribe": transcribe, "recording": recording}


def warm_up() -> None:
    """Load the configured model once so the first job does not wait for it."""
    from qylon_cli import settings as settings_mod

    from .. import transcribe as stt

    settings = settings_mod.load()
    stt.load_model(stt.options_from_settings(settings), settings)
