"""The sync outbox: push meetings the team server does not have yet, pull its clients.

Every change to a meeting in the store (saving it, an edit, a speaker's name, an item's
status, a re-analysis, a deletion) queues it here in the same transaction, through
triggers (store migration 0007). `sync` sends each with an idempotent
``PUT /v1/meetings/{id}`` (a deletion with ``DELETE``) and marks it pushed only after the
server has answered, one commit per meeting. A crash or a lost connection therefore
leaves at worst one meeting sent but not marked; the next run sends it again and the
server, seeing the same content, stores nothing twice. The PUT carries the meeting's
``updated_at``: the server refuses an edit older than the one it has (``stale_edit``),
and the report names it rather than dropping it silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PureWindowsPath

from qylon_cli.errors import InvalidInput, NotFound

from ..store.database import Store
from ..store.timestamps import now as _now


@dataclass
class SyncReport:
    pushed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    stale: list[dict] = field(default_factory=list)
    unlinked: list[dict] = field(default_factory=list)  # filed under a client the server lacks
    pending: int = 0
    clients: int | None = None

    def to_dict(self) -> dict:
        return {
            "pushed": len(self.pushed),
            "unchanged": len(self.unchanged),
            "failed": self.failed,
            "deleted": len(self.deleted),
            "stale": self.stale,
            "unlinked": self.unlinked,
            "pending": self.pending,
            "clients": self.clients,
            "pushed_ids": self.pushed,
            "deleted_ids": self.deleted,
        }


class Outbox:
    def __init__(self, store: Store):
        self.store = store
        self.db = store.db

    def pending(self) -> list[dict]:
        """Meetings waiting to be pushed or deleted, oldest first (the row id breaks ties within a millisecond)."""
        cur = self.db.execute(
            "SELECT o.meeting_id AS id, o.op, m.title, m.client, m.created_at, o.attempts, o.last_error "
            "FROM sync_outbox o LEFT JOIN meetings m ON m.id = o.meeting_id "
            "WHERE o.pushed_at IS NULL ORDER BY o.enqueued_at, o.rowid"
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def status(self) -> dict:
        row = self.db.execute(
            "SELECT count(*), sum(pushed_at IS NULL), max(pushed_at) FROM sync_outbox"
        ).fetchone()
        return {"meetings": row[0], "pending": row[1] or 0, "last_pushed_at": row[2]}

    def _mark_pushed(self, meeting_id: str, enqueued_at: str, *, note: str | None = None) -> None:
        """Done with this entry, unless the meeting changed again while it was being sent."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE sync_outbox SET pushed_at = ?, last_error = ?, attempts = attempts + 1, "
                "last_attempt_at = ? WHERE meeting_id = ? AND enqueued_at = ?",
                [_now(), note, _now(), meeting_id, enqueued_at],
            )

    def _mark_deleted(self, meeting_id: str, enqueued_at: str) -> None:
        with self.db.atomic():
            self.db.execute(
                "DELETE FROM sync_outbox WHERE meeting_id = ? AND enqueued_at = ? AND op = 'delete'",
                [meeting_id, enqueued_at],
            )

    def _mark_failed(self, meeting_id: str, error: str) -> None:
        with self.db.atomic():
            self.db.execute(
                "UPDATE sync_outbox SET last_error = ?, attempts = attempts + 1, last_attempt_at = ? WHERE meeting_id = ?",
                [error, _now(), meeting_id],
            )

    def push(self, api, *, on_meeting: Callable[[dict], None] | None = None) -> SyncReport:
        """PUT every pending meeting. Auth and network failures stop the run (progress is kept)."""
        report = SyncReport()
        for row in self.pending():
            enqueued = self.db.execute(
                "SELECT enqueued_at FROM sync_outbox WHERE meeting_id = ?", [row["id"]]
            ).fetchone()[0]
            if row["op"] == "delete":
                self._delete(api, row["id"], enqueued, report)
            else:
                self._put(api, row["id"], enqueued, report)
            if on_meeting:
                on_meeting(row)
        report.pending = self.status()["pending"]
        return report

    def _put(self, api, meeting_id: str, enqueued: str, report: SyncReport) -> None:
        meeting = self.store.get_meeting(meeting_id)
        body = meeting.model_dump(mode="json")
        if body.get(
            "source"
        ):  # the file name only: the local path names the user and their folders
            body["source"] = PureWindowsPath(body["source"]).name  # splits on / and \
        try:
            result = api.put(f"/v1/meetings/{meeting.id}", body)
        except (InvalidInput, NotFound) as exc:  # this meeting is refused; the others may go
            if (
                exc.code == "stale_edit"
            ):  # the server has a newer edit: say so, and stop sending this one
                self._mark_pushed(meeting.id, enqueued, note=exc.message)
                report.stale.append(
                    {"id": meeting.id, "title": meeting.title, "error": exc.message}
                )
                return
            self._mark_failed(meeting.id, exc.message)
            report.failed.append({"id": meeting.id, "title": meeting.title, "error": exc.message})
            return
        self._mark_pushed(meeting.id, enqueued)
        (report.pushed if result.get("changed", True) else report.unchanged).append(meeting.id)
        if meeting.client and not result.get("client_id"):
            report.unlinked.append(
                {"id": meeting.id, "title": meeting.title, "client": meeting.client}
            )

    def _delete(self, api, meeting_id: str, enqueued: str, report: SyncReport) -> None:
        try:
            api.delete(f"/v1/meetings/{meeting_id}")
        except NotFound:
            pass  # never pushed, or already gone: either way the server does not have it
        except InvalidInput as exc:
            self._mark_failed(meeting_id, exc.message)
            report.failed.append({"id": meeting_id, "title": None, "error": exc.message})
            return
        self._mark_deleted(meeting_id, enqueued)
        report.deleted.append(meeting_id)

    # -- the client list ---------------------------------------------------------------
    def pull_clients(self, api) -> int:
        items = list(api.pages("/v1/clients", status="all"))
        synced = _now()
        with self.db.atomic():
            self.db.execute("DELETE FROM clients_cache")
            self.db["clients_cache"].insert_all(
                {
                    "id": c["id"],
                    "name": c["name"],
                    "domain": c.get("domain"),
                    "tags": json.dumps(c.get("tags") or []),
                    "status": c["status"],
                    "updated_at": c.get("updated_at"),
                    "synced_at": synced,
                }
                for c in items
            )
        return len(items)

    def client_names(self, prefix: str = "", *, include_archived: bool = False) -> list[str]:
        sql = "SELECT name FROM clients_cache WHERE lower(name) LIKE ?"
        if not include_archived:
            sql += " AND status = 'active'"
        like = prefix.lower().replace("%", r"\%") + "%"
        return [r[0] for r in self.db.execute(sql + " ORDER BY lower(name)", [like])]


def sync(store: Store, api, *, on_meeting=None, pull: bool = True) -> SyncReport:
    outbox = Outbox(store)
    report = outbox.push(api, on_meeting=on_meeting)
    if pull:
        report.clients = outbox.pull_clients(api)
    return report
