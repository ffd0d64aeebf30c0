"""The offline extractor, due dates, merging, and the labelled-set targets."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date

import pytest
from qylon_agent import insights
from qylon_agent.insights import dates, offline
from qylon_agent.insights.merge import merge_items
from qylon_agent.insights.result import Found

from ..conftest import REPO
from .transcripts import WEDNESDAY, make_meeting


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("send it by Friday", "2026-11-27"),
        ("on Monday", "2026-11-30"),
        ("by Wednesday", "2026-12-02"),  # said on a Wednesday: next week's
        ("next Tuesday", "2026-12-01"),
        ("next Friday", "2026-12-04"),
        ("this Friday", "2026-11-27"),
        ("this Monday", "2026-11-30"),  # already past this week: the coming one
        ("by the end of the month", "2026-11-30"),
        ("end of next month", "2026-12-31"),
        ("this week", "2026-11-27"),
        ("by the end of the week", "2026-11-27"),
        ("next week", "2026-12-04"),
        ("today", "2026-11-25"),
        ("by end of day", "2026-11-25"),
        ("tomorrow", "2026-11-26"),
        ("the day after tomorrow", "2026-11-27"),
        ("in two weeks", "2026-12-09"),
        ("within 3 days", "2026-11-28"),
        ("by December 10", "2026-12-10"),
        ("on the 3rd of December", "2026-12-03"),
        ("by the 20th", "2026-12-20"),
        ("before the end of the quarter", "2026-12-31"),
        ("due 2027-01-15", "2027-01-15"),
    ],
)
def test_due_dates(phrase, expected):
    assert dates.resolve_due(phrase, WEDNESDAY) == date.fromisoformat(expected)


@pytest.mark.parametrize(
    "phrase",
    [
        "the migration finished on Tuesday",
        "last Friday",
        "the postmortem for Tuesday's outage",
        "soon",
    ],
)
def test_not_due_dates(phrase):
    assert dates.resolve_due(phrase, WEDNESDAY) is None


def test_strip_due():
    assert dates.strip_due("send the report by Friday", WEDNESDAY) == "send the report"


def test_team_meeting():
    result = offline.extract(make_meeting())
    got = [(i.owner, i.task, i.due and i.due.isoformat()) for i in result.items]
    assert got == [
        ("Bob", "Send the migration report to their chief accountant", "2026-11-27"),
        ("Carol", "Update the project plan and share it with the client", "2026-11-30"),
        ("Alice", "Schedule the training session for their support staff", None),
    ]
    bob = result.items[0]
    assert bob.quote.endswith("Yes, I can do that.") and bob.start == 10.0
    assert result.decisions == ["We decided to move the go live date to the end of the month."]
    assert result.summary and len(result.summary.split(". ")) <= 3
    assert "Acme onboarding" in result.summary


def test_unnamed_speakers_own_items_by_label():
    result = offline.extract(make_meeting(named=False))
    assert [i.owner for i in result.items] == ["Bob", "SPEAKER_3", "Alice"]


def test_refusals_hypotheticals_and_questions_are_not_items():
    text = """
Ann: If the budget is approved, I will hire a contractor.
Ben: We could maybe try a new vendor.
Ann: Ben, could you call the vendor tomorrow?
Ben: Sorry, I can't this week.
Ann: Will the API be ready for the pilot?
Ben: I won't be at the review on Friday.
Ann: I would rather wait for the research results.
"""
    assert offline.extract(make_meeting(text)).items == []


def test_refused_request_taken_by_a_volunteer():
    text = """
Ann: Ben, could you call the vendor tomorrow?
Ben: Sorry, I'm out.
Cleo: I can do it.
"""
    items = offline.extract(make_meeting(text)).items
    assert [(i.owner, i.task, i.due.isoformat()) for i in items] == [
        ("Cleo", "Call the vendor", "2026-11-26")
    ]


def test_recap_merges_with_the_original_item():
    text = """
Tara: Ulrich, could you send the signed contract to procurement on Monday?
Ulrich: Yes.
Tara: So to recap, Ulrich sends the signed contract to procurement on Monday.
"""
    items = offline.extract(make_meeting(text)).items
    assert len(items) == 1 and items[0].owner == "Ulrich"


def test_merge_fills_missing_fields():
    merged = merge_items(
        [
            Found("Send the report", "Bob"),
            Found("send the migration report", "Bob", date(2026, 11, 27)),
        ]
    )
    assert (
        len(merged) == 1
        and merged[0].due == date(2026, 11, 27)
        and merged[0].task == "Send the report"
    )
    assert (
        len(merge_items([Found("Send the report", "Bob"), Found("Send the invoice", "Bob")])) == 2
    )
    assert len(merge_items([Found("Send the report", "Bob"), Found("Send the report", "Ann")])) == 2


def test_apply_keeps_status_of_items_found_again():
    meeting = make_meeting()
    first = insights.apply(meeting, offline.extract(meeting))
    done = [first.action_items[0].model_copy(update={"status": "done"})] + first.action_items[1:]
    again = insights.apply(meeting, offline.extract(meeting), previous=done)
    assert [a.id for a in again.action_items] == [a.id for a in first.action_items]
    assert [a.status for a in again.action_items] == ["done", "open", "open"]


def test_labelled_set_meets_targets():
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "actions.py"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(out.stdout)
    assert figures["meetings"] >= 20
    assert figures["precision"] >= 0.85 and figures["recall"] >= 0.85
    assert figures["due_accuracy"] >= 0.9


def test_an_offer_counts_once_taken():
    taken = """
Kai: The certificates expire soon.
Marco: I can rotate the remaining certificates on Wednesday.
Kai: Great, thanks Marco.
"""
    items = offline.extract(make_meeting(taken)).items
    assert [(i.owner, i.task, i.due.isoformat()) for i in items] == [
        ("Marco", "Rotate the remaining certificates", "2026-12-02")
    ]
    ignored = """
Marco: I can rotate the remaining certificates on Wednesday.
Marco: Anyway, that is all from me.
"""
    assert offline.extract(make_meeting(ignored)).items == []


CHATTER = """
Ann: Um, okay, so, yeah.
Ben: Yeah, yeah. Mm-hmm.
Ann: Uh, I'll, um.
Ben: I'll take care of that.
Ann: Right, I'll just show you the, uh, the the slide.
Ben: We'll see.
Ann: Um so I'm gonna uh send the the budget report to Carla by Friday.
Ben: That's the end of the meeting, I think. Thanks everyone, bye.
"""


def test_fillers_and_chatter_give_no_items():
    items = offline.extract(make_meeting(CHATTER)).items
    assert [(i.owner, i.task, i.due.isoformat()) for i in items] == [
        ("Ann", "Send the budget report to Carla", "2026-11-27")
    ]


def test_owners_from_the_words_roles_and_initials():
    said = """
Ann: So for next time, the designer will update the mock-ups, and Ben is going to draft the test plan.
Ann: And as the project manager, I'll book the review with the client.
"""
    items = offline.extract(make_meeting(said)).items
    assert [(i.owner, i.task) for i in items] == [
        ("Designer", "Update the mock-ups"),
        ("Ben", "Draft the test plan"),
        ("Ann", "Book the review with the client"),
    ]


def test_work_handed_out_at_the_wrap_up():
    said = """
Pat: Okay, we need to wrap up. For the next meeting: the industrial designer, the components concept.
Pat: And UID, the user interface concept.
Ian: Okay.
"""
    meeting = make_meeting(said)
    meeting.speakers[0].name, meeting.speakers[1].name = "Project Manager", "Industrial Designer"
    meeting.speakers.append(
        meeting.speakers[1].model_copy(
            update={"id": "SPEAKER_9", "name": "User Interface Designer"}
        )
    )
    items = offline.extract(meeting).items
    assert [(i.owner, i.task) for i in items] == [
        ("Industrial Designer", "Work on the components concept"),
        ("User Interface Designer", "Work on the user interface concept"),
    ]


def test_no_filler_or_fragment_items_on_real_meetings():
    """AMI (real meetings, human transcripts): every item is a verb phrase about something, never chatter."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import ami

    paths = sorted((ami.data_dir() / "transcripts").glob("*.transcript.tsv"))[::5]
    assert len(paths) == 20
    for path in paths:
        for item in offline.extract(ami.load_meeting(path)).items:
            words = item.task.split()
            assert len(words) >= 2 and words[-1].lower() not in ("and", "the", "to", "a", "of"), (
                path.name,
                item.task,
            )
            assert not re.match(r"(?i)^(um|uh|yeah|okay|so|bye|thanks|hi|hello)\b", item.task), (
                path.name,
                item.task,
            )
            assert not re.search(r"(?i)\b(um|uh|mm-hmm)\b|end of the meeting", item.task), (
                path.name,
                item.task,
            )
