"""The meeting figures: meetings, hours, talk-time share per speaker, action items opened
and closed, and the median time to close one.

One function over plain records, used by the agent (its local store) and the server (its
database), so a consultant's report and the team's agree on the same meetings. A record:

    {"id", "title", "client", "created_at": datetime, "duration_s",
     "speakers": [{"id", "name", "talk_time_s"}],
     "action_items": [{"status": "open"|"done", "due": "YYYY-MM-DD"|None,
                       "updated_at": datetime|None}]}

Definitions (docs/reports.md):
- a meeting counts when its date (``created_at``, UTC) is on or after ``since`` and its
  client is ``client`` (case-insensitive), when those are given;
- hours: the meetings' durations added up, in hours;
- talk-time share: a speaker's talk time over everyone's, across the meetings; a speaker
  is their name (case-insensitive), and speakers without one are pooled as "Unnamed";
- action items opened: the items raised in those meetings; closed: those of them done;
  overdue: open ones whose due date is before ``today``;
- time to close: from the meeting's date to the time the item was marked done (its
  ``updated_at``, the time its status last changed), in days; the median over the closed
  items that have that time.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

UNNAMED = "Unnamed"
_AGO = re.compile(r"^(\d+)\s*([dw])$")


def since_date(value: str | None, *, today: date | None = None) -> date | None:
    """``30d``, ``4w`` (ago) or an ISO date (``2026-11-01``); None for None. A usage
    error otherwise."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    ago = _AGO.match(text)
    if ago:
        days = int(ago.group(1)) * (7 if ago.group(2) == "w" else 1)
        return (today or datetime.now(UTC).date()) - timedelta(days=days)
    try:
        return date.fromisoformat(text)
    except ValueError:
        from ..errors import UsageError

        raise UsageError(
            f"--since: {value!r} is neither a number of days or weeks ago nor a date.",
            hint="e.g. --since 30d, --since 4w or --since 2026-11-01.",
        ) from None


def _utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def selected(
    meetings: Iterable[dict], *, client: str | None = None, since: date | None = None
) -> list[dict]:
    """The meetings the report is about (see the module's definitions)."""
    wanted = client.strip().casefold() if client else None
    out = []
    for m in meetings:
        if wanted is not None and (m.get("client") or "").strip().casefold() != wanted:
            continue
        if since is not None and _utc(m["created_at"]).date() < since:
            continue
        out.append(m)
    return out


def _clients(meetings: list[dict]) -> list[dict]:
    by: dict[str, dict] = {}
    for m in meetings:
        name = (m.get("client") or "").strip() or "(no client)"
        row = by.setdefault(name.casefold(), {"client": name, "meetings": 0, "duration_s": 0.0})
        row["meetings"] += 1
        row["duration_s"] += float(m.get("duration_s") or 0)
    rows = [
        {
            "client": r["client"],
            "meetings": r["meetings"],
            "hours": round(r["duration_s"] / 3600, 2),
        }
        for r in by.values()
    ]
    return sorted(rows, key=lambda r: (-r["hours"], -r["meetings"], r["client"].casefold()))


def _speakers(meetings: list[dict]) -> list[dict]:
    by: dict[str, dict] = {}
    for m in meetings:
        for s in m.get("speakers") or ():
            name = (s.get("name") or "").strip() or UNNAMED
            row = by.setdefault(name.casefold(), {"speaker": name, "talk_time_s": 0.0})
            row["talk_time_s"] += float(s.get("talk_time_s") or 0)
    total = sum(r["talk_time_s"] for r in by.values())
    rows = [
        {
            "speaker": r["speaker"],
            "talk_time_s": round(r["talk_time_s"], 1),
            "share": round(r["talk_time_s"] / total, 4) if total else 0.0,
        }
        for r in by.values()
    ]
    return sorted(rows, key=lambda r: (-r["talk_time_s"], r["speaker"].casefold()))


def _items(meetings: list[dict], today: date) -> dict:
    opened = closed = overdue = 0
    days: list[float] = []
    for m in meetings:
        held = _utc(m["created_at"])
        for item in m.get("action_items") or ():
            opened += 1
            if item.get("status") == "done":
                closed += 1
                done_at = _utc(item.get("updated_at"))
                if done_at is not None:
                    days.append(max(0.0, (done_at - held).total_seconds() / 86400))
            elif item.get("due") and str(item["due"]) < today.isoformat():
                overdue += 1
    return {
        "opened": opened,
        "closed": closed,
        "open": opened - closed,
        "overdue": overdue,
        "median_days_to_close": round(statistics.median(days), 2) if days else None,
    }


def meeting_figures(
    meetings: Iterable[dict],
    *,
    client: str | None = None,
    since: date | None = None,
    today: date | None = None,
    source: str = "local",
) -> dict:
    """The report's JSON (``qylon report meetings --json``, ``GET /v1/reports/meetings``)."""
    today = today or datetime.now(UTC).date()
    chosen = selected(meetings, client=client, since=since)
    total_s = sum(float(m.get("duration_s") or 0) for m in chosen)
    return {
        "report": "meetings",
        "source": source,
        "filters": {"client": client, "since": since.isoformat() if since else None},
        "today": today.isoformat(),
        "meetings": len(chosen),
        "hours": round(total_s / 3600, 2),
        "clients": _clients(chosen),
        "speakers": _speakers(chosen),
        "action_items": _items(chosen, today),
    }
