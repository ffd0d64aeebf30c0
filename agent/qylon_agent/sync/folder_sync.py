"""Auto-export: each meeting as Markdown with YAML front matter in a folder (such as an
Obsidian vault), rewritten when the meeting changes and removed when it is deleted.

Changes are found through ``meetings.updated_at``, which triggers in the store move on
any change to a meeting or its segments, speakers or action items.
"""

from __future__ import annotations

import re
from pathlib import Path

from qylon_cli.schemas import Meeting

from ..store.database import Store
from ..store.formats import to_md


def front_matter(meeting: Meeting) -> str:
    import yaml

    names = {sp.id: sp.name or sp.id for sp in meeting.speakers}
    data = {
        "title": meeting.title,
        "date": meeting.created_at.isoformat(),
        "client": meeting.client,
        "duration_s": meeting.duration_s,
        "speakers": [names[sp.id] for sp in meeting.speakers],
        "action_items": [
            {
                "task": a.task,
                "owner": a.owner,
                "due": a.due.isoformat() if a.due else None,
                "status": a.status,
            }
            for a in meeting.action_items
        ],
        "qylon_id": meeting.id,
    }
    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n\n"


def file_name(meeting: Meeting) -> str:
    title = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", meeting.title).strip()[:80] or "Meeting"
    return f"{meeting.created_at:%Y-%m-%d} {title} ({meeting.id[:8]}).md"


def sync_exports(store: Store, folder: Path) -> list[str]:
    """Write what changed since the last export; return the paths written or removed."""
    folder.mkdir(parents=True, exist_ok=True)
    changed: list[str] = []
    rows = store.db.execute(
        """SELECT m.id, e.path FROM meetings m LEFT JOIN exports e ON e.meeting_id = m.id
           WHERE e.exported_at IS NULL OR m.updated_at > e.exported_at"""
    ).fetchall()
    for meeting_id, old_path in rows:
        stamp = store.db.execute(
            "SELECT updated_at FROM meetings WHERE id = ?", [meeting_id]
        ).fetchone()[0]
        meeting = store.get_meeting(meeting_id)
        target = folder / file_name(meeting)
        tmp = target.with_name(target.name + ".part")
        tmp.write_text(front_matter(meeting) + to_md(meeting), encoding="utf-8")
        tmp.replace(target)
        if old_path and Path(old_path) != target:
            Path(old_path).unlink(missing_ok=True)
        store.db["exports"].upsert(
            {"meeting_id": meeting_id, "path": str(target), "exported_at": stamp}, pk="meeting_id"
        )
        changed.append(str(target))
    for meeting_id, path in store.db.execute(
        "SELECT meeting_id, path FROM exports WHERE meeting_id NOT IN (SELECT id FROM meetings)"
    ).fetchall():
        Path(path).unlink(missing_ok=True)
        store.db["exports"].delete(meeting_id)
        changed.append(path)
    return changed
