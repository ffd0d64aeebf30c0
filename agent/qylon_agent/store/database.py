"""The agent's local store: one SQLite file under QYLON_HOME, WAL mode, migrated on open.

The store owns the file; nothing else writes to it. Meetings are written in one
transaction, so a meeting is either stored whole or not at all.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlite_utils import Database

from qylon_cli import paths
from qylon_cli.errors import InvalidInput

from . import ids
from .migrations import migrations
from .timestamps import now as _now
from .timestamps import utc as _utc

if TYPE_CHECKING:  # building the schemas' models costs 0.05 s: `meeting list` needs none
    from qylon_cli.schemas import ActionItem, Meeting

# Where a search hit starts and ends inside a snippet.
MARK_START, MARK_END = "\x02", "\x03"


def default_path() -> Path:
    return paths.ensure_home() / "qylon.db"


# How long a writer waits for another one to finish before giving up (seconds).
BUSY_TIMEOUT_S = 30


class _Database(Database):
    """Writing transactions begin immediately (``BEGIN IMMEDIATE``), taking the write lock
    first: a transaction that began deferred and read before writing fails at once under
    WAL when another writer committed in between ("database is locked"), whatever the busy
    timeout; one that takes the lock first waits for the other writer instead."""

    @contextlib.contextmanager
    def atomic(self):
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            with super().atomic():  # a savepoint inside the immediate transaction
                yield self
        except BaseException:
            self.rollback()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback()
                raise


PLAIN_MAGIC = b"SQLite format 3\x00"


def is_plain(path: Path | str) -> bool:
    """Whether the store's file is plain SQLite (False for a SQLCipher file or none yet)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == PLAIN_MAGIC
    except FileNotFoundError:
        return False


def connect(path: Path | str, key: bytes | None = None) -> Database:
    """The store's file, opened as every writer to it must: immediate transactions, a busy
    timeout. With ``key``, a SQLCipher file (AES-256, every page: rows, search index, WAL)."""
    if key is None:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level="IMMEDIATE")
        return _Database(conn)
    import sqlcipher3

    conn = sqlcipher3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level="IMMEDIATE")
    conn.execute("PRAGMA cipher_log_level = NONE")  # wrong keys are reported below, not logged
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError:
        conn.close()
        from ..crypto.container import Undecryptable

        raise Undecryptable(
            f"The store {path} cannot be opened with its key (the wrong key, or a damaged file).",
            hint="`qylon privacy status` tells which key this install holds.",
        ) from None
    # Deleted rows are overwritten, not left readable in free pages.
    conn.execute("PRAGMA secure_delete = ON")
    return _Database(conn)


# Whether each store file is SQLCipher, decided once per process (path -> sealed), before
# the process's first connection to it. Reading the header needs a file descriptor of our
# own, and closing any descriptor of a file drops every POSIX lock the process holds on it
# (fcntl semantics), those of this process's other SQLite connections included: with the
# agent's threads writing, a header read at each Store() let two writers in at once and
# corrupted the file ("database disk image is malformed"). A file does not change kind
# while a process uses it (`qylon privacy seal-existing` and `forget` refuse while the agent
# runs, and call ``forget_kind`` after changing it).
_KINDS: dict[str, bool] = {}
_KINDS_LOCK = threading.Lock()


def _sealed(path: Path) -> bool:
    with _KINDS_LOCK:
        name = str(path.resolve())
        if name not in _KINDS:
            from ..crypto import keys

            if is_plain(path):
                _KINDS[name] = False
            elif not path.exists() or path.stat().st_size == 0:
                _KINDS[name] = keys.enabled()  # a new store: as privacy.encrypt says
            else:
                _KINDS[name] = True
        return _KINDS[name]


def forget_kind(path: Path) -> None:
    """After a store file was sealed or replaced in this process: decide its kind again."""
    with _KINDS_LOCK:
        _KINDS.pop(str(path.resolve()), None)


def store_key(path: Path) -> bytes | None:
    """The store's data key when its file is (or, new, is to be) SQLCipher; None for plain.

    What the file holds decides, so a plain store stays readable after encryption is turned
    on (until `qylon privacy seal-existing`), and a sealed one after it is turned off."""
    from ..crypto import keys

    if not _sealed(path):
        return None
    found = keys.Keys.load()
    if not path.exists() or path.stat().st_size == 0:
        found = found or keys.Keys.load_or_create()
        return found.data_key(keys.STORE, create=True)[1]
    if found is None or not found.has(keys.STORE):
        from ..crypto.container import Undecryptable

        raise Undecryptable(
            f"The store {path} is encrypted, and this install has no key for it (keys.json).",
            hint="Restore QYLON_HOME/keys.json from a backup and `qylon privacy import-key`.",
            code="key_destroyed",
        )
    return found.data_key(keys.STORE)[1]


def open_sealed(path: Path, key: bytes) -> Database:
    """Connect with the store's key; after a re-key a crash interrupted, with the next key."""
    from ..crypto import container, keys

    try:
        return connect(path, key)
    except container.Undecryptable:
        found = keys.Keys.load()
        if found is None or not found.has(keys.STORE_NEXT):
            raise
        key_id, key = found.data_key(keys.STORE_NEXT)
        db = connect(path, key)
        with found.locked():
            found.doc["data_keys"][keys.STORE] = found.seal_data_key(keys.STORE, key_id, key)
            del found.doc["data_keys"][keys.STORE_NEXT]
            found.save()
        return db


class Store:
    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_path()
        key = store_key(self.path)
        self.encrypted = key is not None
        self.db = open_sealed(self.path, key) if key else connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=NORMAL")
        migrations.apply(self.db)
        self._open_search_index()

    def _open_search_index(self) -> None:
        """Connect the full-text index now, outside any write. A connection's first use of
        the FTS5 table reads its content table's schema; done inside a write transaction
        while another connection commits, SQLite (3.40) failed the statement with
        SQLITE_SCHEMA "no such table: segments" (two writers racing, 1 run in 15). A read
        that meets this is safe to repeat."""
        for attempt in range(5):
            try:
                self.db.execute("SELECT rowid FROM segments_fts LIMIT 0").fetchall()
                return
            except Exception as exc:  # sqlite3's or sqlcipher3's OperationalError
                if getattr(exc, "sqlite_errorname", "") != "SQLITE_SCHEMA" or attempt == 4:
                    raise

    def close(self) -> None:
        self.db.close()

    # -- meetings -------------------------------------------------------
    def save_meeting(self, meeting: Meeting, *, audio_path: str | None = None) -> None:
        """Insert or replace a meeting with its segments, speakers and action items."""
        with self.db.atomic():
            self._delete_children(meeting.id)
            self.db["meetings"].upsert(
                {
                    "id": meeting.id,
                    "title": meeting.title,
                    "client": meeting.client,
                    "source": meeting.source,
                    "audio_path": audio_path,
                    "created_at": meeting.created_at.isoformat(),
                    "date_source": meeting.date_source,
                    "duration_s": meeting.duration_s,
                    "language": meeting.language,
                    "model": meeting.model,
                    "summary": meeting.summary,
                    "decisions": json.dumps(meeting.decisions),
                },
                pk="id",
            )
            self.db["segments"].insert_all(
                {
                    "meeting_id": meeting.id,
                    "idx": i,
                    "start": s.start,
                    "end": s.end,
                    "speaker": s.speaker,
                    "text": s.text,
                    "words": json.dumps([w.model_dump() for w in s.words]),
                }
                for i, s in enumerate(meeting.segments)
            )
            self.db["speakers"].insert_all(
                {
                    "meeting_id": meeting.id,
                    "label": sp.id,
                    "name": sp.name,
                    "talk_time_s": sp.talk_time_s,
                    "name_source": sp.name_source,
                    "score": sp.score,
                    "suggestions": json.dumps([x.model_dump() for x in sp.suggestions]),
                }
                for sp in meeting.speakers
            )
            self.db["action_items"].insert_all(
                {**a.model_dump(mode="json"), "meeting_id": meeting.id}
                for a in meeting.action_items
            )
            # Triggers (store migration 0007) queue the meeting in the sync outbox in this transaction.

    def _delete_children(self, meeting_id: str) -> None:
        for table in ("segments", "speakers", "action_items"):
            self.db.execute(f"DELETE FROM [{table}] WHERE meeting_id = ?", [meeting_id])

    def resolve_id(self, ref: str) -> str:
        """Accept a full id or a unique prefix of one (as git does for commits)."""
        return ids.resolve(
            ref,
            ids.in_table(self.db, "meetings"),
            what="meeting",
            hint="`qylon meeting list` shows ids.",
        )

    def get_meeting(self, ref: str) -> Meeting:
        from qylon_cli.schemas import ActionItem, Meeting, Segment, Speaker

        meeting_id = self.resolve_id(ref)
        row = self.db["meetings"].get(meeting_id)
        segments = [
            Segment(
                start=r["start"],
                end=r["end"],
                speaker=r["speaker"],
                text=r["text"],
                words=json.loads(r["words"] or "[]"),
            )
            for r in self.db["segments"].rows_where("meeting_id = ?", [meeting_id], order_by="idx")
        ]
        speakers = [
            Speaker(
                id=r["label"],
                name=r["name"],
                talk_time_s=r["talk_time_s"] or 0.0,
                name_source=r["name_source"],
                score=r["score"],
                suggestions=json.loads(r["suggestions"] or "[]"),
            )
            for r in self.db["speakers"].rows_where(
                "meeting_id = ?", [meeting_id], order_by="label"
            )
        ]
        items = [
            ActionItem(
                **{k: r[k] for k in ("id", "owner", "task", "due", "status", "quote", "start")},
                updated_at=_utc(r["updated_at"]),
            )
            for r in self.db["action_items"].rows_where(
                "meeting_id = ?", [meeting_id], order_by="start"
            )
        ]
        return Meeting(
            **{
                k: row[k]
                for k in (
                    "id",
                    "title",
                    "client",
                    "source",
                    "created_at",
                    "duration_s",
                    "language",
                    "model",
                    "summary",
                )
            },
            date_source=row.get("date_source"),
            updated_at=_utc(row.get("updated_at")),
            decisions=json.loads(row["decisions"] or "[]"),
            segments=segments,
            speakers=speakers,
            action_items=items,
        )

    def audio_path(self, meeting_id: str) -> str | None:
        return self.db["meetings"].get(meeting_id)["audio_path"]

    def list_meetings(self, *, client: str | None = None, limit: int | None = None) -> list[dict]:
        where, args = "", []
        if client:
            where, args = "WHERE lower(m.client) = lower(?)", [client]
        sql = f"""
            SELECT m.id, m.title, m.client, m.created_at, m.duration_s, m.language,
                   (SELECT count(*) FROM segments s WHERE s.meeting_id = m.id) AS segments,
                   (SELECT count(*) FROM speakers s WHERE s.meeting_id = m.id) AS speakers,
                   (SELECT count(*) FROM action_items a WHERE a.meeting_id = m.id) AS action_items
            FROM meetings m {where} ORDER BY m.created_at DESC
        """
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [
            dict(zip([c[0] for c in cur.description], row))
            for cur in [self.db.execute(sql, args)]
            for row in cur.fetchall()
        ]

    def delete_meeting(self, ref: str) -> str:
        meeting_id = self.resolve_id(ref)
        with self.db.atomic():
            self._delete_children(meeting_id)
            self.db.execute("DELETE FROM crm_links WHERE meeting_id = ?", [meeting_id])
            self.db.execute("DELETE FROM video_imports WHERE meeting_id = ?", [meeting_id])
            self.db.execute("DELETE FROM meeting_events WHERE meeting_id = ?", [meeting_id])
            self.db["meetings"].delete(
                meeting_id
            )  # a trigger queues the deletion for the team server
        return meeting_id

    # -- CRM links (qylon meeting push) ---------------------------------
    def crm_links(self, meeting_id: str, provider: str) -> dict[str, str]:
        """The CRM object ids an earlier push stored: key (``note``, ``task:<item id>``) -> id."""
        rows = self.db.execute(
            "SELECT key, crm_id FROM crm_links WHERE meeting_id = ? AND provider = ?",
            [meeting_id, provider],
        ).fetchall()
        return dict(rows)

    def set_crm_link(
        self, meeting_id: str, provider: str, key: str, kind: str, crm_id: str
    ) -> None:
        with self.db.atomic():
            self.db["crm_links"].upsert(
                {
                    "meeting_id": meeting_id,
                    "provider": provider,
                    "key": key,
                    "kind": kind,
                    "crm_id": crm_id,
                    "pushed_at": _now(),
                },
                pk=("meeting_id", "provider", "key"),
            )

    def drop_crm_link(self, meeting_id: str, provider: str, key: str) -> None:
        """Forget an object a push deleted in the CRM (its action item is gone)."""
        with self.db.atomic():
            self.db.execute(
                "DELETE FROM crm_links WHERE meeting_id = ? AND provider = ? AND key = ?",
                [meeting_id, provider, key],
            )

    # -- cloud recordings (qylon meeting import --from zoom) ------------
    def video_import(self, provider: str, recording_id: str) -> dict | None:
        """The meeting a cloud recording became (``meeting_id``, ``participants``), or None."""
        row = self.db.execute(
            "SELECT meeting_id, participants FROM video_imports WHERE provider = ? AND recording_id = ?",
            [provider, recording_id],
        ).fetchone()
        if not row:
            return None
        return {"meeting_id": row[0], "participants": json.loads(row[1] or "[]")}

    def participants(self, meeting_id: str) -> list[dict]:
        """Who attended the meeting (``[{"name", "email"}]``): those the video platform
        listed, else the attendees of the calendar event it was recorded in."""
        row = self.db.execute(
            "SELECT participants FROM video_imports WHERE meeting_id = ?", [meeting_id]
        ).fetchone()
        if row and row[0]:
            return json.loads(row[0])
        event = self.meeting_event(meeting_id)
        return event["attendees"] if event else []

    # -- the calendar event a recording was made in (qylon meeting record) ----
    def meeting_event(self, meeting_id: str) -> dict | None:
        """``{"provider", "event_id", "client", "attendees"}``, or None."""
        row = self.db.execute(
            "SELECT provider, event_id, client, attendees FROM meeting_events WHERE meeting_id = ?",
            [meeting_id],
        ).fetchone()
        if not row:
            return None
        return {
            "provider": row[0],
            "event_id": row[1],
            "client": row[2],
            "attendees": json.loads(row[3] or "[]"),
        }

    def set_meeting_event(
        self, meeting_id: str, provider: str, event_id: str, client: str | None, attendees: list
    ) -> None:
        with self.db.atomic():
            self.db["meeting_events"].upsert(
                {
                    "meeting_id": meeting_id,
                    "provider": provider,
                    "event_id": event_id,
                    "client": client,
                    "attendees": json.dumps(attendees),
                },
                pk="meeting_id",
            )

    def set_video_import(
        self, provider: str, recording_id: str, meeting_id: str, participants: list[dict]
    ) -> None:
        with self.db.atomic():
            self.db["video_imports"].upsert(
                {
                    "provider": provider,
                    "recording_id": recording_id,
                    "meeting_id": meeting_id,
                    "participants": json.dumps(participants),
                    "imported_at": _now(),
                },
                pk=("provider", "recording_id"),
            )

    # -- search ---------------------------------------------------------
    def search(
        self, query: str, *, client: str | None = None, speaker: str | None = None, limit: int = 50
    ) -> list[dict]:
        """Full-text search over segment text; each hit has its meeting, time, speaker (label and
        name) and a snippet. ``speaker``: only what that person (name or label) said."""
        terms = re.findall(r"\w+\*?", query, flags=re.UNICODE)
        if not terms:
            raise InvalidInput("The search query has no words in it.")
        fts = " ".join(f'"{t.rstrip("*")}"' + ("*" if t.endswith("*") else "") for t in terms)
        sql = """
            SELECT s.meeting_id, m.title, m.client, m.created_at, s.start, s.end, s.speaker, sp.name AS speaker_name,
                   snippet(segments_fts, 0, char(2), char(3), '…', 12) AS snippet
            FROM segments_fts
            JOIN segments s ON s.rowid = segments_fts.rowid
            JOIN meetings m ON m.id = s.meeting_id
            LEFT JOIN speakers sp ON sp.meeting_id = s.meeting_id AND sp.label = s.speaker
            WHERE segments_fts MATCH ?
        """
        args: list = [fts]
        if speaker:
            sql += " AND (lower(sp.name) = lower(?) OR lower(s.speaker) = lower(?))"
            args += [speaker.strip(), speaker.strip()]
        if client:
            sql += " AND lower(m.client) = lower(?)"
            args.append(client)
        sql += " ORDER BY rank LIMIT ?"
        args.append(limit)
        cur = self.db.execute(sql, args)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    # -- insights (action items, decisions, summary) ----------------------
    def save_insights(
        self,
        meeting_id: str,
        *,
        items: list[ActionItem],
        decisions: list[str],
        summary: str | None,
        extractor: str,
    ) -> None:
        """Replace a meeting's action items, decisions and summary in one transaction.

        Items a person corrected or added by hand stay as they were; an item found again
        keeps the time its status last changed (the server weighs it against its own)."""
        from ..text import similar

        with self.db.atomic():
            old = {
                r["id"]: r
                for r in self.db["action_items"].rows_where("meeting_id = ?", [meeting_id])
            }
            corrected = [r for r in old.values() if r["edited"]]
            self.db.execute("DELETE FROM action_items WHERE meeting_id = ?", [meeting_id])
            rows = list(corrected)
            for a in items:
                before = old.get(a.id)
                if before and before["edited"]:
                    continue  # kept as corrected
                if any(
                    c["quote"] and c["quote"] == a.quote or similar(c["task"], a.task)
                    for c in corrected
                ):
                    continue  # found again in other words: the corrected one stands
                rows.append(
                    {
                        **a.model_dump(mode="json"),
                        "meeting_id": meeting_id,
                        "updated_at": a.updated_at.isoformat()
                        if a.updated_at
                        else (before or {}).get("updated_at"),
                    }
                )
            self.db["action_items"].insert_all(rows)
            self.db["meetings"].update(
                meeting_id,
                {"summary": summary, "decisions": json.dumps(decisions), "extractor": extractor},
            )

    def action_items(
        self, *, meeting_id: str | None = None, owner: str | None = None, open_only: bool = False
    ) -> list[dict]:
        """Action items across meetings (newest meeting first), with their meeting's title and date."""
        where, args = [], []
        if meeting_id:
            where.append("a.meeting_id = ?")
            args.append(meeting_id)
        if owner:
            where.append("lower(a.owner) = lower(?)")
            args.append(owner)
        if open_only:
            where.append("a.status = 'open'")
        sql = (
            "SELECT a.id, a.meeting_id, m.title AS meeting_title, m.created_at AS meeting_date, a.owner, a.task, a.due,"
            " a.status, a.quote, a.start, a.updated_at, a.edited FROM action_items a JOIN meetings m ON m.id = a.meeting_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY m.created_at DESC, a.start"
        )
        cur = self.db.execute(sql, args)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def resolve_item_id(self, ref: str) -> str:
        return ids.resolve(
            ref,
            ids.in_table(self.db, "action_items"),
            what="action item",
            hint="`qylon meeting actions` shows ids.",
        )

    def set_item_status(self, ref: str, status: str) -> dict:
        """Mark an action item done or open again; returns the item as stored."""
        if status not in ("open", "done"):
            raise InvalidInput(f"Unknown status {status!r}.", hint="Use open or done.")
        item_id = self.resolve_item_id(ref)
        self.db["action_items"].update(item_id, {"status": status, "updated_at": _now()})
        return next(r for r in self.action_items() if r["id"] == item_id)

    def set_extractor(self, meeting_id: str, extractor: str) -> None:
        self.db["meetings"].update(meeting_id, {"extractor": extractor})

    def extractor(self, meeting_id: str) -> str | None:
        return self.db["meetings"].get(meeting_id).get("extractor")
