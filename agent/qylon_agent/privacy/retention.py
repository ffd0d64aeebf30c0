"""Retention: recorded audio older than ``privacy.keep_audio_days`` and meetings older than
``privacy.keep_transcripts_days`` are removed from this device (0 keeps them forever).

Audio: the recording's file goes and its data key is destroyed (a sealed recording is
then unreadable in any copy); the meeting keeps its transcript. Meetings: removed from
the store with their search index rows, voice samples learnt from them, audio and key.
The team server's copy is not touched (retention is this device's rule), and a live
recording is never touched. The agent applies it once an hour; `qylon privacy retention`
shows or applies it by hand.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta

from ..crypto import keys
from ..recording import files as recording_files
from ..store.database import Store

DAY_S = 86400


def plan(settings, *, now: float | None = None) -> dict:
    """What retention removes now: {"audio": [...], "meetings": [...]}, each with id and age."""
    now = now or time.time()
    audio_days = int(settings.get("privacy.keep_audio_days", 0) or 0)
    meeting_days = int(settings.get("privacy.keep_transcripts_days", 0) or 0)
    audio, meetings = [], []
    if audio_days:
        for rec in recording_files.all_recordings(recording_files.root(settings)):
            created = rec.meta.get("started_at") or rec.meta.get("created_at") or now
            if rec.state in ("recording",) or not rec.audio.exists():
                continue
            if now - created > audio_days * DAY_S:
                audio.append(
                    {
                        "id": rec.id,
                        "title": rec.meta.get("title"),
                        "age_days": round((now - created) / DAY_S, 1),
                        "path": str(rec.audio),
                    }
                )
    if meeting_days:
        cutoff = datetime.fromtimestamp(now, UTC) - timedelta(days=meeting_days)
        store = Store()
        try:
            rows = store.db.execute(
                "SELECT id, title, created_at FROM meetings WHERE created_at < ? ORDER BY created_at",
                [cutoff.isoformat()],
            ).fetchall()
        finally:
            store.close()
        for meeting_id, title, created_at in rows:
            age = (datetime.fromtimestamp(now, UTC) - datetime.fromisoformat(created_at)).days
            meetings.append({"id": meeting_id, "title": title, "age_days": age})
    return {
        "keep_audio_days": audio_days,
        "keep_transcripts_days": meeting_days,
        "audio": audio,
        "meetings": meetings,
    }


def apply(settings, *, now: float | None = None) -> dict:
    """Remove what ``plan`` lists; returns the plan."""
    todo = plan(settings, now=now)
    found = keys.Keys.load()
    base = recording_files.root(settings)
    for item in todo["audio"]:
        rec = recording_files.Recording(base / item["id"])
        rec.audio.unlink(missing_ok=True)
        rec.update(audio_removed_at=time.time(), audio_removed_by="retention")
        if found is not None:
            found.drop(keys.meeting_key_name(rec.id))
        _clear_audio_path(rec.meta.get("meeting_id") or rec.id, item["path"])
    if todo["meetings"]:
        store = Store()
        try:
            for item in todo["meetings"]:
                with store.db.atomic():
                    store.db.execute(
                        "DELETE FROM voice_samples WHERE source LIKE ?", [f"meeting:{item['id']}:%"]
                    )
                    store.delete_meeting(item["id"])
                    store.db.execute("DELETE FROM sync_outbox WHERE meeting_id = ?", [item["id"]])
        finally:
            store.close()
        for item in todo["meetings"]:
            shutil.rmtree(base / item["id"], ignore_errors=True)
            if found is not None:
                found.drop(keys.meeting_key_name(item["id"]))
    return todo


def _clear_audio_path(meeting_id: str, path: str) -> None:
    store = Store()
    try:
        with store.db.atomic():
            store.db.execute(
                "UPDATE meetings SET audio_path = NULL WHERE id = ? AND audio_path = ?",
                [meeting_id, path],
            )
    finally:
        store.close()
