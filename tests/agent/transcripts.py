"""Meetings built from "Name: text" lines, as a diarized and named transcript would be."""

from __future__ import annotations

from datetime import UTC, date, datetime

from qylon_cli.schemas import Meeting, Segment, Speaker

TEAM = """
Alice: Good morning everyone. Let's review the Acme onboarding project and agree on the next steps.
Bob: The database migration finished on Tuesday. We still need sign off from their accounting team.
Alice: Bob, could you send the migration report to their chief accountant by Friday?
Bob: Yes, I can do that.
Carol: I will update the project plan and share it with the client on Monday.
Alice: Good. We decided to move the go live date to the end of the month.
Carol: Action item: Alice will schedule the training session for their support staff.
Alice: Agreed. Thanks everyone, talk next week.
"""
WEDNESDAY = date(2026, 11, 25)


def make_meeting(
    text: str = TEAM,
    day: date = WEDNESDAY,
    *,
    named: bool = True,
    meeting_id: str = "5eed0000-0000-4000-8000-000000000001",
) -> Meeting:
    labels: dict[str, str] = {}
    segments, clock = [], 0.0
    for line in text.strip().splitlines():
        who, said = line.split(":", 1)
        label = labels.setdefault(who.strip(), f"SPEAKER_{len(labels) + 1}")
        segments.append(Segment(start=clock, end=clock + 4.0, speaker=label, text=said.strip()))
        clock += 5.0
    return Meeting(
        id=meeting_id,
        title="Weekly sync with Acme",
        created_at=datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC),
        duration_s=clock,
        segments=segments,
        speakers=[
            Speaker(id=label, name=name if named else None) for name, label in labels.items()
        ],
    )
