"""The meeting report's fixture set and its figures, computed by hand (docs/reports.md's
definitions), for the local report (tests/cli/test_reports.py) and the team server's
(tests/server/test_reports.py): both must give these numbers for these meetings.

Three meetings, two clients (Acme written two ways), named and unnamed speakers (a name
in two spellings), seven action items: four done at known times, one overdue, one open
and due far ahead, one open without a due date.
"""

from __future__ import annotations

from datetime import UTC, datetime

from qylon_cli.schemas import ActionItem, Meeting, Speaker


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _item(id_, status="open", due=None, done_at=None):
    return ActionItem(
        id=id_, task=f"Task {id_}", owner="Dana Lee", status=status, due=due,
        updated_at=_at(done_at) if done_at else None,
    )  # fmt: skip


MEETINGS = [
    Meeting(
        id="3f2a0000-0000-4000-8000-000000000001",
        title="Kick-off",
        client="Acme",
        created_at=_at("2026-11-02T09:00:00"),
        duration_s=3600,
        speakers=[
            Speaker(id="SPEAKER_1", name="Dana Lee", talk_time_s=1800),
            Speaker(id="SPEAKER_2", name="Sam Roe", talk_time_s=1200),
            Speaker(id="SPEAKER_3", talk_time_s=600),
        ],
        action_items=[
            _item("a1", "done", done_at="2026-11-04T09:00:00"),  # 2 days
            _item("a2", due="2026-01-15"),  # overdue
            _item("a3", due="2099-01-01"),
        ],
    ),
    Meeting(
        id="3f2a0000-0000-4000-8000-000000000002",
        title="Weekly",
        client="acme",
        created_at=_at("2026-11-16T10:00:00"),
        duration_s=1800,
        speakers=[
            Speaker(id="SPEAKER_1", name="dana lee", talk_time_s=900),
            Speaker(id="SPEAKER_2", name="Sam Roe", talk_time_s=900),
        ],
        action_items=[
            _item("b1", "done", done_at="2026-11-17T22:00:00"),  # 1.5 days
            _item("b2", "done", done_at="2026-11-26T10:00:00"),  # 10 days
        ],
    ),
    Meeting(
        id="3f2a0000-0000-4000-8000-000000000003",
        title="Globex intro",
        client="Globex",
        created_at=_at("2026-10-20T15:00:00"),
        duration_s=2700,
        speakers=[
            Speaker(id="SPEAKER_1", name="Ann Poe", talk_time_s=2000),
            Speaker(id="SPEAKER_2", talk_time_s=700),
        ],
        action_items=[
            _item("c1", "done", done_at="2026-10-21T15:00:00"),  # 1 day
            _item("c2"),
        ],
    ),
]

# Every meeting: 8,100 s = 2.25 h; talk time 8,100 s (Dana 1800+900, Sam 1200+900,
# Ann 2000, unnamed 600+700); items 7, done 4 (2, 1.5, 10, 1 days: median 1.75).
ALL = {
    "meetings": 3,
    "hours": 2.25,
    "clients": [
        {"client": "Acme", "meetings": 2, "hours": 1.5},
        {"client": "Globex", "meetings": 1, "hours": 0.75},
    ],
    "speakers": [
        {"speaker": "Dana Lee", "talk_time_s": 2700.0, "share": 0.3333},
        {"speaker": "Sam Roe", "talk_time_s": 2100.0, "share": 0.2593},
        {"speaker": "Ann Poe", "talk_time_s": 2000.0, "share": 0.2469},
        {"speaker": "Unnamed", "talk_time_s": 1300.0, "share": 0.1605},
    ],
    "action_items": {
        "opened": 7,
        "closed": 4,
        "open": 3,
        "overdue": 1,
        "median_days_to_close": 1.75,
    },
}

# --client acme: the first two (5,400 s; talk Dana 2700, Sam 2100, unnamed 600; done
# after 2, 1.5 and 10 days: median 2).
ACME = {
    "meetings": 2,
    "hours": 1.5,
    "clients": [{"client": "Acme", "meetings": 2, "hours": 1.5}],
    "speakers": [
        {"speaker": "Dana Lee", "talk_time_s": 2700.0, "share": 0.5},
        {"speaker": "Sam Roe", "talk_time_s": 2100.0, "share": 0.3889},
        {"speaker": "Unnamed", "talk_time_s": 600.0, "share": 0.1111},
    ],
    "action_items": {
        "opened": 5,
        "closed": 3,
        "open": 2,
        "overdue": 1,
        "median_days_to_close": 2.0,
    },
}

# --since 2026-11-10: the weekly alone (its two items done after 1.5 and 10 days).
SINCE = {
    "meetings": 1,
    "hours": 0.5,
    "clients": [{"client": "acme", "meetings": 1, "hours": 0.5}],
    "speakers": [
        {"speaker": "dana lee", "talk_time_s": 900.0, "share": 0.5},
        {"speaker": "Sam Roe", "talk_time_s": 900.0, "share": 0.5},
    ],
    "action_items": {
        "opened": 2,
        "closed": 2,
        "open": 0,
        "overdue": 0,
        "median_days_to_close": 5.75,
    },
}


def figures(data: dict) -> dict:
    """The figures of a report's JSON, without what says where and when it was made."""
    return {k: v for k, v in data.items() if k not in ("report", "source", "filters", "today")}
