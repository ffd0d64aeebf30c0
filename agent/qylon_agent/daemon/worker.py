"""What each kind of job does. Handlers are idempotent: run twice, they have the
effect of running once (a transcription's meeting id is fixed when it is queued)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..store.database import Store

Progress = Callable[[float, float], None]


def transcribe(store: Store, payload: dict, progress: Progress) -> dict:
    from qylon_cli import settings as settings_mod

    from .. import insights, pipeline
    from ..speech import transcribe as stt
    from ..speech.attribution import from_settings

    settings = settings_mod.load()
    opts = stt.options_from_settings(settings, **payload.get("options", {}))
    flags = payload.get("speakers", {})
    diarization, naming = from_settings(
        settings,
        diarize=flags.get("diarize"),
        num_speakers=flags.get("speakers"),
        min_speakers=flags.get("min_speakers"),
        max_speakers=flags.get("max_speakers"),
    )
    try:
        meeting = pipeline.transcribe_file(
            Path(payload["path"]),
            opts,
            title=payload.get("title"),
            client=payload.get("client"),
            meeting_id=payload["meeting_id"],
            settings=settings,
            on_progress=progress,
            extractor=payload.get("extractor"),
            fallback=payload.get("fallback"),
            on_warning=(warnings := []).append,
            diarization=diarization,
            naming=naming,
            recorded_at=datetime.fromisoformat(payload["recorded_at"])
            if payload.get("recorded_at")
            else None,
            heard=(heard := {}),
        )
    except (
        insights.InsightsFailed
    ) as failed:  # the model asked for is down: keep the transcript, report why
        store.save_meeting(failed.meeting, audio_path=failed.meeting.source)
        error = failed.reported()
        error.permanent = (
            True  # the transcript is stored: running the job again would only transcribe it again
        )
        raise error from None
    store.save_meeting(meeting, audio_path=meeting.source)
    store.set_extractor(
        meeting.id,
        "offline" if heard["fell_back"] else insights.choose(payload.get("extractor"), settings),
    )
    queue_pushes(store, meeting.id, settings)
    return {
        "meeting_id": meeting.id,
        "segments": len(meeting.segments),
        "warnings": warnings,
        "unheard": heard.get("unheard", []),
        "recovered": heard.get("recovered", []),
    }


def recording(store: Store, payload: dict, progress: Progress) -> dict:
    """Finish a recording (finalise its audio, transcribe it); idempotent, as `meeting recover`."""
    from qylon_cli import settings as settings_mod
    from qylon_cli.errors import QylonError

    from ..recording import files as recording_mod
    from ..recording import recover
    from ..speech import transcribe as stt

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
    queue_pushes(store, meeting.id, settings)
    return {"recording_id": rec.id, "meeting_id": meeting.id, "segments": len(meeting.segments)}


def analyze(store: Store, payload: dict, progress: Progress) -> dict:
    """Find a stored meeting's action items, decisions and summary again (as `meeting analyze`)."""
    from qylon_cli import settings as settings_mod

    from .. import insights

    settings = settings_mod.load()
    meeting = store.get_meeting(payload["meeting_id"])
    result = insights.analyze(
        meeting,
        extractor=payload.get("extractor"),
        fallback=payload.get("fallback"),
        settings=settings,
    )
    updated = insights.apply(meeting, result, previous=meeting.action_items)
    used = "offline" if result.warnings else result.extractor
    store.save_insights(
        meeting.id,
        items=updated.action_items,
        decisions=updated.decisions,
        summary=updated.summary,
        extractor=used,
    )
    queue_pushes(store, meeting.id, settings)
    return {
        "meeting_id": meeting.id,
        "action_items": len(updated.action_items),
        "warnings": result.warnings,
    }


PUSH_ATTEMPTS = 6  # backoff between them (jobs.py): a CRM down for a while is waited out


def queue_pushes(store: Store, meeting_id: str, settings) -> None:
    """One ``crm_push`` job per CRM that ``agent.auto_push`` names, queued before the job
    that analysed the meeting ends: a crash in between runs that job again, and a push
    twice updates rather than duplicates (sync/crm.py)."""
    from ..sync.crm import auto_push_targets
    from .jobs import JobQueue

    for name in auto_push_targets(settings):
        payload = {"meeting_id": meeting_id, "to": name}
        JobQueue(store).enqueue("crm_push", payload, max_attempts=PUSH_ATTEMPTS)


def crm_push(store: Store, payload: dict, progress: Progress) -> dict:
    """Push a meeting to a CRM (as `qylon meeting push ID --to NAME`). A partial failure
    fails the job, retried with backoff: the next push sends only what failed."""
    from ..sync import crm

    result = crm.push(store, payload["meeting_id"], payload["to"])
    return {
        "pushed": payload["meeting_id"],
        "to": payload["to"],
        "target": result.target,
        "items": len(result.items),
    }


def sync(store: Store, payload: dict, progress: Progress) -> dict:
    """Push the outbox to the team server and pull its clients (as `qylon sync`).

    Offline is not a failure: the outbox keeps the meetings and the next sync sends
    them, so an unreachable server ends the job with ``offline: true``.
    """
    from qylon_cli.client import ApiClient
    from qylon_cli.errors import Unavailable

    from ..sync.outbox import Outbox
    from ..sync.outbox import sync as run_sync

    try:
        with ApiClient.from_credentials(retries=2, backoff=0.5, max_wait=4.0) as api:
            report = run_sync(store, api)
    except Unavailable as exc:
        return {"offline": True, "error": exc.message, "pending": Outbox(store).status()["pending"]}
    return {"offline": False, **report.to_dict()}


def server_configured() -> bool:
    """True when there are credentials to sync with (`qylon auth login`, or QYLON_SERVER + QYLON_TOKEN)."""
    from qylon_cli import credentials
    from qylon_cli.errors import QylonError

    try:
        credentials.resolve()
    except QylonError:
        return False
    return True


HANDLERS: dict[str, Callable[[Store, dict, Progress], dict]] = {
    "transcribe": transcribe,
    "recording": recording,
    "analyze": analyze,
    "sync": sync,
    "crm_push": crm_push,
}


def warm_up() -> None:
    """Load everything a transcription needs once, so jobs do not wait for it: the
    speech model, the voice-activity model, the speaker encoder and the extractors."""
    import numpy as np
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from qylon_cli import settings as settings_mod

    from .. import insights  # noqa: F401 - loaded once, here
    from ..speech import transcribe as stt
    from ..speech.embeddings import encoder

    settings = settings_mod.load()
    model = stt.load_model(stt.options_from_settings(settings), settings)
    hum = (0.1 * np.sin(np.linspace(0, 2 * np.pi * 220, 16000 * 2))).astype(np.float32)
    list(
        model.transcribe(hum, language=None if model.model.is_multilingual else "en", beam_size=1)[
            0
        ]
    )
    get_speech_timestamps(hum, VadOptions())
    encoder()
