"""Cloud recordings brought in as meetings (``qylon meeting import --from zoom``).

The video platform is a provider plugin (``qylon_cli.providers.VideoProvider`` and
``RecordingDownloader``); the agent never imports it. For each recording not imported
before: its vendor transcript (WebVTT) when there is one, imported as ``meeting import``
imports a file (speaker-named, no transcription); else its audio (or video) downloaded
resumably under ``QYLON_HOME/imports/NAME/`` and transcribed by the normal pipeline. The
meeting keeps the recording's title and start time; the participants the platform lists
are stored with it (``video_imports``), and the recording's id makes a second import skip it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from qylon_cli import paths
from qylon_cli.errors import PartialFailure, QylonError, UsageError
from qylon_cli.providers import Recording, RecordingDownloader, VideoProvider
from qylon_cli.schemas import Meeting

from .store.database import Store


class ImportIncomplete(PartialFailure):
    """Some recordings came in and some did not (exit 7); running the import again takes up
    only those (an interrupted download goes on from where it stopped)."""

    code = "import_incomplete"


def source(name: str):
    from qylon_cli import plugins

    made = plugins.require("video", name, f"`qylon meeting import --from {name}`")
    if not isinstance(made, VideoProvider) or not isinstance(made, RecordingDownloader):
        raise UsageError(f"The {name} integration cannot import recordings.")
    return made


def download_path(name: str, recording: Recording, extension: str) -> Path:
    """Where a recording's file goes: the same path on every run, so a ``.part`` is found."""
    digest = hashlib.sha256(recording.id.encode()).hexdigest()[:20]
    return paths.home() / "imports" / name / f"{digest}.{extension}"


def _meeting(
    recording: Recording,
    file_path: Path,
    is_transcript: bool,
    *,
    settings,
    extractor: str | None,
    fallback: str | None,
    on_warning: Callable[[str], None],
    on_progress: Callable[[float, float], None] | None,
) -> Meeting:
    from . import insights, pipeline

    try:
        if is_transcript:
            from .store import transcript_files

            meeting = transcript_files.to_meeting(
                file_path, title=recording.title, when=recording.started_at
            )
            return pipeline.analyze(
                meeting,
                extractor=extractor,
                fallback=fallback,
                settings=settings,
                on_warning=on_warning,
            )
        from .speech import transcribe as stt

        return pipeline.transcribe_file(
            file_path,
            stt.options_from_settings(settings),
            title=recording.title,
            settings=settings,
            on_progress=on_progress,
            extractor=extractor,
            fallback=fallback,
            on_warning=on_warning,
            recorded_at=recording.started_at,
            date_source="recording",
            participants=[p.model_dump() for p in recording.participants],
        )
    except insights.InsightsFailed as failed:
        on_warning(f"{recording.title}: stored without insights ({failed.error.message})")
        return failed.meeting


def import_recordings(
    store: Store,
    name: str,
    *,
    since: datetime | None,
    settings,
    extractor: str | None = None,
    fallback: str | None = None,
    on_warning: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[str, float, float], None] | None = None,
) -> list[dict]:
    """Import every recording of ``name`` since ``since``; one row per recording
    (``outcome``: imported, skipped, no_file or failed). ImportIncomplete when any failed."""
    provider = source(name)
    recordings = provider.list_recordings(since=since)
    for message in getattr(provider, "warnings", []):
        on_warning(message)
    rows, failed = [], []
    for recording in recordings:
        people = [p.model_dump() for p in recording.participants]
        row = {
            "recording_id": recording.id,
            "title": recording.title,
            "started_at": recording.started_at,
            "duration_s": recording.duration_s,
            "participants": [p.name for p in recording.participants],
            "meeting_id": None,
            "via": None,
        }
        rows.append(row)
        done = store.video_import(name, recording.id)
        if done:
            row.update(outcome="skipped", meeting_id=done["meeting_id"])
            continue
        file = recording.best()
        if file is None:
            row["outcome"] = "no_file"
            continue
        is_transcript = file.kind == "transcript"
        row["via"] = "transcript" if is_transcript else "transcription"
        dest = download_path(name, recording, file.extension)
        try:
            if not dest.exists():

                def progress(done: int, total: int, title=recording.title) -> None:
                    if on_progress:
                        on_progress(f"Downloading {title}", done, total)

                provider.download(file, dest, progress)
            meeting = _meeting(
                recording,
                dest,
                is_transcript,
                settings=settings,
                extractor=extractor,
                fallback=fallback,
                on_warning=on_warning,
                on_progress=(
                    (
                        lambda pos, total, t=recording.title: on_progress(
                            f"Transcribing {t}", pos, total
                        )
                    )
                    if on_progress
                    else None
                ),
            )
        except QylonError as exc:
            row.update(outcome="failed", error=exc.message)
            failed.append(row)
            continue
        store.save_meeting(meeting, audio_path=None if is_transcript else meeting.source)
        store.set_video_import(name, recording.id, meeting.id, people)
        row.update(outcome="imported", meeting_id=meeting.id)
    if failed:
        raise ImportIncomplete(
            f"{len(failed)} of {len(rows)} recordings did not come in: "
            + "; ".join(f"{r['title']}: {r['error']}" for r in failed),
            hint="Run the same import again: what came in is skipped, a broken-off download goes on.",
            details={"recordings": [{**r, "started_at": str(r["started_at"])} for r in rows]},
        )
    return rows
