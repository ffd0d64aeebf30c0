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


HANDLERS: dict[str, Callable[[Store, dict, Progress], dict]] = {"transcribe": transcribe}


def warm_up() -> None:
    """Load the configured model once so the first job does not wait for it."""
    from qylon_cli import settings as settings_mod

    from .. import transcribe as stt

    settings = settings_mod.load()
    stt.load_model(stt.options_from_settings(settings), settings)
