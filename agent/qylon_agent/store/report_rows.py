"""What `qylon report meetings` reads on this device: each meeting with its speakers'
talk time and its action items' status, due date and time of change, as the plain records
``qylon_cli.reports.meetings`` computes the figures from (the team server gives it the
same records from its database). Reads only; three queries whatever the number of
meetings."""

from __future__ import annotations

from datetime import date, timedelta

from .database import Store


def records(store: Store, *, client: str | None = None, since: date | None = None) -> list[dict]:
    where, args = [], []
    if client:
        where.append("lower(trim(client)) = lower(trim(?))")
        args.append(client)
    if since:
        # ISO times start with their local date; a day's margin for the offset, and the
        # figures' own filter (on the UTC date) decides
        where.append("substr(created_at, 1, 10) >= ?")
        args.append((since - timedelta(days=1)).isoformat())
    chosen = " WHERE " + " AND ".join(where) if where else ""
    sql = "SELECT id, title, client, created_at, duration_s FROM meetings" + chosen
    of_chosen = f"WHERE meeting_id IN (SELECT id FROM meetings{chosen})"
    meetings = {
        row[0]: {
            "id": row[0],
            "title": row[1],
            "client": row[2],
            "created_at": row[3],
            "duration_s": row[4] or 0.0,
            "speakers": [],
            "action_items": [],
        }
        for row in store.db.execute(sql + " ORDER BY created_at", args).fetchall()
    }
    for meeting_id, label, name, talk in store.db.execute(
        f"SELECT meeting_id, label, name, talk_time_s FROM speakers {of_chosen} "
        "ORDER BY meeting_id, label",
        args,
    ).fetchall():
        if meeting_id in meetings:
            meetings[meeting_id]["speakers"].append(
                {"id": label, "name": name, "talk_time_s": talk or 0.0}
            )
    for meeting_id, status, due, updated_at in store.db.execute(
        f"SELECT meeting_id, status, due, updated_at FROM action_items {of_chosen} "
        "ORDER BY meeting_id, id",
        args,
    ).fetchall():
        if meeting_id in meetings:
            meetings[meeting_id]["action_items"].append(
                {"status": status, "due": due, "updated_at": updated_at}
            )
    return list(meetings.values())


def meetings(*, client: str | None = None, since: date | None = None) -> list[dict]:
    """The records of this device's meetings (the `report_sources` hook's ``meetings``)."""
    store = Store()
    try:
        return records(store, client=client, since=since)
    finally:
        store.close()
