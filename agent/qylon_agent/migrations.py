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


@migrations(name="0005_outbox")
def m0005_outbox(db: Database) -> None:
    """The sync outbox (meetings not yet pushed to the team server) and a cache of the
    server's client list, so `--client` can be completed offline."""
    db["sync_outbox"].create(
        {
            "meeting_id": str,
            "enqueued_at": str,
            "attempts": int,
            "last_attempt_at": str,
            "last_error": str,
            "pushed_at": str,  # NULL until the server has it
        },
        pk="meeting_id",
        not_null={"enqueued_at", "attempts"},
        defaults={"attempts": 0},
    )
    db["sync_outbox"].create_index(["pushed_at"])
    # Every meeting stored before the outbox existed has never been pushed.
    db.execute(
        "INSERT INTO sync_outbox (meeting_id, enqueued_at, attempts) "
        "SELECT id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0 FROM meetings"
    )
    db["clients_cache"].create(
        {"id": str, "name": str, "domain": str, "tags": str, "status": str, "updated_at": str, "synced_at": str},
        pk="id",
    )
    db["clients_cache"].create_index(["name"])
