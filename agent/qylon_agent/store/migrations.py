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
    db.execute(
        "CREATE UNIQUE INDEX idx_voice_profiles_name ON voice_profiles (name COLLATE NOCASE)"
    )
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


@migrations(name="0003_insights")
def m0003_insights(db: Database) -> None:
    # When an item was last opened or closed, and which extractor produced a meeting's insights.
    db["action_items"].add_column("updated_at", str)
    db["action_items"].create_index(["owner"])
    db["action_items"].create_index(["status"])
    db["meetings"].add_column("extractor", str)


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
        {
            "id": str,
            "name": str,
            "domain": str,
            "tags": str,
            "status": str,
            "updated_at": str,
            "synced_at": str,
        },
        pk="id",
    )
    db["clients_cache"].create_index(["name"])


@migrations(name="0006_jobs")
def m0006_jobs(db: Database) -> None:
    """The agent's durable job queue (transcribe, analyze, sync)."""
    db["jobs"].create(
        {
            "id": str,
            "kind": str,
            "payload": str,  # JSON
            "status": str,  # queued, running, done, parked, cancelled
            "attempts": int,
            "max_attempts": int,
            "next_run_at": str,
            "error": str,
            "result": str,  # JSON
            "created_at": str,
            "started_at": str,
            "finished_at": str,
        },
        pk="id",
        defaults={"status": "queued", "attempts": 0, "max_attempts": 3},
        not_null={"kind", "payload", "status", "created_at"},
    )
    db["jobs"].create_index(["status", "next_run_at"])
    # Every change to a meeting or its parts moves meetings.updated_at, whatever code
    # made it, so the agent can re-export changed meetings (agent.export_dir).
    db.execute("ALTER TABLE meetings ADD COLUMN updated_at TEXT")
    db.execute("UPDATE meetings SET updated_at = created_at")
    db.execute(
        "CREATE TRIGGER meetings_touch AFTER UPDATE ON meetings WHEN NEW.updated_at IS OLD.updated_at "
        "AND NEW.updated_at IS NOT strftime('%Y-%m-%dT%H:%M:%f', 'now') "
        "BEGIN UPDATE meetings SET updated_at = strftime('%Y-%m-%dT%H:%M:%f', 'now') WHERE id = NEW.id; END"
    )
    db.execute(
        "CREATE TRIGGER meetings_touch_new AFTER INSERT ON meetings "
        "BEGIN UPDATE meetings SET updated_at = strftime('%Y-%m-%dT%H:%M:%f', 'now') WHERE id = NEW.id; END"
    )
    for table in ("segments", "speakers", "action_items"):
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            db.execute(
                f"CREATE TRIGGER {table}_touch_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN UPDATE meetings SET updated_at = strftime('%Y-%m-%dT%H:%M:%f', 'now') "
                f"WHERE id = {row}.meeting_id; END"
            )
    db["exports"].create({"meeting_id": str, "path": str, "exported_at": str}, pk="meeting_id")


@migrations(name="0007_sync_every_change")
def m0007_sync_every_change(db: Database) -> None:
    """Every change to a meeting queues it for the team server, whatever code made it, in
    the same transaction (triggers on ``meetings.updated_at``, which moves on any change to
    a meeting or its parts); a deleted meeting leaves a deletion to send. Also: where the
    meeting's date came from, and which action items a person corrected or added by hand."""
    db.execute("ALTER TABLE sync_outbox ADD COLUMN op TEXT NOT NULL DEFAULT 'put'")  # put or delete
    db.execute("ALTER TABLE meetings ADD COLUMN date_source TEXT")
    db.execute("ALTER TABLE action_items ADD COLUMN edited TEXT")  # NULL, 'edited' or 'added'
    queue = (
        "INSERT INTO sync_outbox (meeting_id, enqueued_at, attempts, op) "
        "VALUES (NEW.id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0, 'put') "
        "ON CONFLICT(meeting_id) DO UPDATE SET enqueued_at = excluded.enqueued_at, op = 'put', "
        "pushed_at = NULL, attempts = 0, last_error = NULL"
    )
    db.execute(f"CREATE TRIGGER meetings_outbox_insert AFTER INSERT ON meetings BEGIN {queue}; END")
    db.execute(
        "CREATE TRIGGER meetings_outbox_update AFTER UPDATE OF updated_at ON meetings "
        f"WHEN NEW.updated_at IS NOT OLD.updated_at BEGIN {queue}; END"
    )
    db.execute(
        "CREATE TRIGGER meetings_outbox_delete AFTER DELETE ON meetings BEGIN "
        "INSERT INTO sync_outbox (meeting_id, enqueued_at, attempts, op) "
        "VALUES (OLD.id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0, 'delete') "
        "ON CONFLICT(meeting_id) DO UPDATE SET enqueued_at = excluded.enqueued_at, op = 'delete', "
        "pushed_at = NULL, attempts = 0, last_error = NULL; END"
    )


@migrations(name="0008_speaker_names")
def m0008_speaker_names(db: Database) -> None:
    """Where a speaker's name came from (profile, conversation, user, local), its score, the
    names the conversation suggests (JSON list of {name, confidence, evidence}); the client
    a voice sample was learnt for."""
    db.execute("ALTER TABLE speakers ADD COLUMN name_source TEXT")
    db.execute("ALTER TABLE speakers ADD COLUMN score REAL")
    db.execute("ALTER TABLE speakers ADD COLUMN suggestions TEXT")
    # A voice learnt in a client's meeting (speakers.learn_per_client) names only in that client's meetings.
    db.execute("ALTER TABLE voice_samples ADD COLUMN client TEXT")


@migrations(name="0009_one_timestamp_format")
def m0009_one_timestamp_format(db: Database) -> None:
    """The triggers that move ``meetings.updated_at`` write the store's one timestamp format
    (store/timestamps.py: UTC, milliseconds, ``Z``) like every other writer; the stamps they
    wrote before (no offset, meaning UTC) stay as they are and are read as UTC."""
    now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    db.execute("DROP TRIGGER meetings_touch")
    db.execute(
        "CREATE TRIGGER meetings_touch AFTER UPDATE ON meetings WHEN NEW.updated_at IS OLD.updated_at "
        f"AND NEW.updated_at IS NOT {now} "
        f"BEGIN UPDATE meetings SET updated_at = {now} WHERE id = NEW.id; END"
    )
    db.execute("DROP TRIGGER meetings_touch_new")
    db.execute(
        f"CREATE TRIGGER meetings_touch_new AFTER INSERT ON meetings BEGIN UPDATE meetings SET updated_at = {now} WHERE id = NEW.id; END"
    )
    for table in ("segments", "speakers", "action_items"):
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            db.execute(f"DROP TRIGGER {table}_touch_{event.lower()}")
            db.execute(
                f"CREATE TRIGGER {table}_touch_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN UPDATE meetings SET updated_at = {now} WHERE id = {row}.meeting_id; END"
            )


@migrations(name="0010_crm_links")
def m0010_crm_links(db: Database) -> None:
    """What a meeting became in a CRM (``qylon meeting push``): per provider, the note's and
    each action item's object id (key ``note`` or ``task:<item id>``), so that a second
    push updates them rather than creating copies. Kept across re-analysis (not a child the
    meeting's save replaces); removed with the meeting."""
    db["crm_links"].create(
        {
            "meeting_id": str,
            "provider": str,
            "key": str,
            "kind": str,
            "crm_id": str,
            "pushed_at": str,
        },
        pk=("meeting_id", "provider", "key"),
    )


@migrations(name="0011_video_imports")
def m0011_video_imports(db: Database) -> None:
    """Which cloud recording each imported meeting came from (``qylon meeting import --from
    zoom``), so that a second import skips it, with the participants the platform listed
    (JSON: ``[{"name", "email"}]``). Kept across re-analysis; removed with the meeting."""
    db["video_imports"].create(
        {
            "provider": str,
            "recording_id": str,
            "meeting_id": str,
            "participants": str,
            "imported_at": str,
        },
        pk=("provider", "recording_id"),
    )


@migrations(name="0013_calendar")
def m0013_calendar(db: Database) -> None:
    """The calendar's events as last fetched (``qylon meeting calendar`` and the agent read
    them offline), and the event a recording was made in, with its attendees (JSON:
    ``[{"name", "email"}]``): the meeting's participants when no video platform listed any."""
    db["calendar_events"].create(
        {
            "provider": str,
            "id": str,
            "title": str,
            "start": str,
            "end": str,
            "attendees": str,
            "meeting_url": str,
            "fetched_at": str,
        },
        pk=("provider", "id"),
    )
    db["calendar_events"].create_index(["start"])
    db["calendar_fetches"].create(
        {"provider": str, "window_start": str, "window_end": str, "fetched_at": str},
        pk="provider",
    )
    db["meeting_events"].create(
        {
            "meeting_id": str,
            "provider": str,
            "event_id": str,
            "client": str,
            "attendees": str,
        },
        pk="meeting_id",
    )
