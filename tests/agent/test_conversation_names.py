"""Names from the conversation: introductions, being addressed, being thanked; real AMI meetings."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

from qylon_agent.speech import conversation_names
from qylon_agent.store.database import Store

from qylon_cli.schemas import Segment
from tests.agent.transcripts import make_meeting
from tests.conftest import SHARED

AMI = SHARED / "data" / "ami" / "transcripts"

# Who is who is given only by what people say; the script's names are the truth.
NAMES_SAID = """
Dana: Hi everyone, this is Dana from finance. Thanks for joining the budget review.
Marcus: Morning. I looked at the numbers for the third quarter last night.
Dana: Great. Marcus, could you walk us through the variance on travel?
Marcus: Sure. Travel is up twelve percent, mostly the client workshops in Berlin.
Dana: Priya, does that match the project accounts?
Priya: It does, that is what we saw there too.
Dana: Thanks, Priya. Can we cap travel for the rest of the year?
Priya: We can, if the workshops move online. I'll check with the client team.
Marcus: I'll prepare the revised forecast by Friday.
Dana: Thanks Marcus. Let's meet again next week.
"""

NO_NAMES = """
Speaker: Okay, let's start. The export ran overnight and the totals match.
Other: Good. Could you send the reconciliation sheet to the finance team?
Speaker: Sure, I will do that today.
Other: Great. Excellent, thanks. Then we are done.
"""


def _named(text: str):
    meeting = make_meeting(text, named=False)
    speakers = conversation_names.name_speakers(meeting.segments, meeting.speakers)
    truth = {}
    for line, seg in zip(text.strip().splitlines(), meeting.segments):
        truth[seg.speaker] = line.split(":", 1)[0]
    return meeting, speakers, truth


def test_names_said_in_the_meeting_name_their_speakers():
    meeting, speakers, truth = _named(NAMES_SAID)
    talk = defaultdict(float)
    for seg in meeting.segments:
        talk[seg.speaker] += seg.end - seg.start
    right = sum(talk[sp.id] for sp in speakers if sp.name == truth[sp.id])
    wrong = [sp for sp in speakers if sp.name and sp.name != truth[sp.id]]
    assert not wrong
    assert right / sum(talk.values()) >= 0.8
    dana = next(sp for sp in speakers if truth[sp.id] == "Dana")
    assert dana.name_source == "conversation" and dana.score >= conversation_names.APPLY
    assert any(
        ev.kind == "self" and "this is Dana" in ev.quote for ev in dana.suggestions[0].evidence
    )


def test_a_meeting_without_names_keeps_its_labels():
    _, speakers, _ = _named(NO_NAMES)
    assert [sp.name for sp in speakers] == [None, None]
    assert all(not sp.suggestions for sp in speakers)


def test_one_mention_is_a_suggestion_not_a_name():
    text = (
        "A: Okay. Bob, could you take the minutes today?\nB: Sure, happy to.\nA: Good, let's start."
    )
    _, speakers, _ = _named(text)
    b = speakers[1]
    assert b.name is None and [s.name for s in b.suggestions] == ["Bob"]
    assert b.suggestions[0].evidence[0].kind == "addressed"
    assert speakers[0].suggestions == []  # nobody addresses themself


def test_profile_and_user_names_are_kept_and_their_names_not_reused():
    meeting, _, truth = _named(NAMES_SAID)
    dana = next(sp.id for sp in meeting.speakers if truth[sp.id] == "Dana")
    speakers = [
        sp.model_copy(update={"name": "Dana Scully", "name_source": "profile"})
        if sp.id == dana
        else sp
        for sp in meeting.speakers
    ]
    out = conversation_names.name_speakers(meeting.segments, speakers)
    assert next(sp for sp in out if sp.id == dana).name == "Dana Scully"
    assert sum(sp.name == "Dana" for sp in out) == 0


def _ami(path) -> list[Segment]:
    rows = list(csv.DictReader(path.open(encoding="utf-8"), delimiter="\t"))
    segs = [
        Segment(start=float(r["start"]), end=float(r["end"]), speaker=r["speaker"], text=r["text"])
        for r in rows
    ]
    return sorted(segs, key=lambda s: s.start)


def test_real_meetings_never_get_someone_elses_name():
    """Over all 100 AMI meetings (real speech, people's own words), a name applied to a
    participant is never one that another participant of the series introduced themself with."""
    applied: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    introduced: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(AMI.glob("*.tsv")):
        meeting, series = path.name.split(".")[0], path.name[:6]
        segs = _ami(path)
        found, _ = conversation_names.infer(segs)
        applied[series] += [(meeting, spk, f.name) for spk, f in found.items()]
        for clue in conversation_names.clues(segs):
            if clue.kind == "self" and clue.weight >= conversation_names.SELF:
                introduced[series][clue.name] = clue.speaker
    total = sum(len(v) for v in applied.values())
    assert total >= 40  # kick-off meetings introduce people: names are found
    for series, rows in applied.items():
        for meeting, spk, name in rows:
            owner = introduced[series].get(name)
            assert owner in (None, spk), f"{meeting}: {spk} named {name}, who is {owner}"


def test_meeting_speakers_lists_sources_and_accepts_a_suggestion(qylon, qylon_home):
    text = (
        "A: Okay. Bob, could you take the minutes today?\nB: Sure, happy to.\nA: Good, let's start."
    )
    meeting = make_meeting(text, named=False)
    meeting = meeting.model_copy(
        update={"speakers": conversation_names.name_speakers(meeting.segments, meeting.speakers)}
    )
    Store().save_meeting(meeting)
    r = qylon("meeting", "speakers", meeting.id[:8], "--json")
    code, out = r.code, r.stdout
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)["data"]["items"]}
    assert (
        rows["SPEAKER_2"]["name"] is None and rows["SPEAKER_2"]["suggestions"][0]["name"] == "Bob"
    )
    r = qylon("meeting", "speakers", meeting.id[:8], "accept", "SPEAKER_2", "--json")
    code, out = r.code, r.stdout
    assert code == 0 and json.loads(out)["data"]["name"] == "Bob"
    r = qylon("meeting", "speakers", meeting.id[:8], "--json")
    code, out = r.code, r.stdout
    rows = {r["id"]: r for r in json.loads(out)["data"]["items"]}
    assert rows["SPEAKER_2"]["name"] == "Bob" and rows["SPEAKER_2"]["name_source"] == "user"
    r = qylon("meeting", "speakers", meeting.id[:8], "accept", "SPEAKER_1", "--json")
    code, out = r.code, r.stdout
    assert code == 5 and json.loads(out)["error"]["code"]
    code = qylon("meeting", "speakers", meeting.id[:8], "rename", "SPEAKER_1").code
    assert code == 2


# Each named once, by being addressed: not enough alone, enough for people on the invite.
ADDRESSED_ONCE = """
Host: Good morning, let's go through the launch plan.
Guest: Morning. The venue is booked for the twelfth.
Host: Marcus, could you confirm the catering by Thursday?
Guest: Yes, I'll call them today.
Third: And the printed programmes are with the designer.
Host: Good. Then we meet again on Monday.
"""
INVITED = [
    {"name": "Dana Lee", "email": "dana@acme.example"},
    {"name": "Marcus Webb", "email": "marcus@acme.example"},
    {"name": "", "email": "priya.nair@acme.example"},  # no display name: from the address
]


def test_participants_give_whole_names_and_the_last_speaker_left():
    meeting = make_meeting(ADDRESSED_ONCE, named=False)
    guest = meeting.segments[1].speaker
    without = {
        sp.id: sp for sp in conversation_names.name_speakers(meeting.segments, meeting.speakers)
    }
    assert without[guest].name is None  # one clue of 0.3: a suggestion only
    assert [s.name for s in without[guest].suggestions] == ["Marcus"]

    # the host introduces no one and is never named: two speakers stay unknown
    named = {
        sp.id: sp
        for sp in conversation_names.name_speakers(meeting.segments, meeting.speakers, INVITED)
    }
    assert named[guest].name == "Marcus Webb" and named[guest].name_source == "conversation"
    assert sum(1 for sp in named.values() if sp.name) == 1


def test_the_last_speaker_left_is_the_last_participant_left():
    text = ADDRESSED_ONCE.replace("Host: Good. Then", "Host: Thanks, Priya. Then")
    meeting = make_meeting(text, named=False)
    host, guest, third = (meeting.segments[k].speaker for k in (0, 1, 4))
    named = {
        sp.id: sp
        for sp in conversation_names.name_speakers(meeting.segments, meeting.speakers, INVITED)
    }
    assert named[guest].name == "Marcus Webb" and named[third].name == "Priya Nair"
    assert named[host].name == "Dana Lee" and named[host].name_source == "participants"
    # a fourth person on the invite: the host could be either of two, so stays unnamed
    four = [*INVITED, {"name": "Omar Haddad", "email": "omar@acme.example"}]
    named = {
        sp.id: sp
        for sp in conversation_names.name_speakers(meeting.segments, meeting.speakers, four)
    }
    assert named[host].name is None
