"""The agent store's schema, as numbered migrations (sqlite-utils ``Migrations``).

Never edit a migration once released: add a new one. Each is tested from an
empty database and from the schema before it (tests/agent/test_migrations.py).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("qylon_agent")


@migrations(name="0001_meetings")
def m0001_meetings(db: Database) -> None:
    db["meetings"].create(
        {
            "id": str,
            "title": str,
            "client": str,
            "source": str,
            "audio_path": str,
            "created_at": str,
            "duration_s": float,
            "language": str,
            "model": str,
            "summary": str,
            "decisions": str,  # JSON list
        },
        pk="id",
    )
    db["meetings"].create_index(["created_at"])
    db["meetings"].create_index(["client"])
    db["segments"].create(
        {
            "id": int,
            "meeting_id": str,
            "idx": int,
            "start": float,
            "end": float,
            "speaker": str,
            "text": str,
            "words": str,  # JSON list of {start, end, word, probability}
        },
        pk="id",
        foreign_keys=[("meeting_id", "meetings", "id")],
    )
    db["segments"].create_index(["meeting_id", "idx"], unique=True)
    db["segments"].enable_fts(["text"], create_triggers=True, tokenize="porter")
    db["speakers"].create(
        {"meeting_id": str, "label": str, "name": str, "talk_time_s": float},
        pk=("meeting_id", "label"),
        foreign_keys=[("meeting_id", "meetings", "id")],
    )
    db["action_items"].create(
        {
            "id": str,
            "meeting_id": str,
            "owner": str,
            "task": str,
            "due": str,
            "status": str,
            "quote": str,
            "start": float,
        },
        pk="id",
        foreign_keys=[("meeting_id", "meetings", "id")],
    )
    db["action_items"].create_index(["meeting_id"])


@migrations(name="0002_voice_profiles")
def m0002_voice_profiles(db: Database) -> None:
    db["voice_profiles"].create(
        {"id": str, "name": str, "created_at": str, "updated_at": str},
        pk="id",
    )
    db.execute("CREATE UNIQUE INDEX idx_voice_profiles_name ON voice_profiles (name COLLATE NOCASE)")
    db["voice_samples"].create(
        {
            "id": int,
            "profile_id": str,
            "source": str,  # the clip or "meeting:<id>:<label>" it came from
            "duration_s": float,  # seconds of speech embedded
            "embedding": bytes,  # float32 x 256, unit length
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("profile_id", "voice_profiles", "id")],
    )
    db["voice_samples"].create_index(["profile_id"])
