"""The sentence classifier that chooses action items on long spoken meetings (issue 14), on real AMI meetings."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
from qylon_agent.insights import classifier, offline, speech

from ..conftest import REPO
from .transcripts import make_meeting

# Tuning-part meetings (the held-out part is only ever scored by benchmarks/actions.py).
MEETINGS = ("ES2002b", "ES2008a", "ES2015c", "TS3005c")


@pytest.fixture(scope="module")
def real():
    """A few real meetings with their annotations, and the model loaded once for the module."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import ami

    notes = ami.load_annotations()
    meetings = []
    for name in MEETINGS:
        path = ami.data_dir() / "transcripts" / f"{name}.transcript.tsv"
        meetings.append((ami.load_meeting(path), notes.get(name, {}).get("actions", [])))
    assert len(meetings) == len(MEETINGS)
    classifier.embedder()
    return ami, meetings


def test_shipped_weights_load():
    raw = json.loads(classifier.WEIGHTS.read_text(encoding="utf-8"))
    assert "AMI tuning part" in raw["trained_on"]
    weights = classifier.shipped()
    assert weights.w.shape == (classifier.DIM + 4 + len(classifier.CUES),)
    assert np.isfinite(weights.w).all() and np.isfinite(weights.b)


def test_real_meetings_get_a_few_items_that_match_the_annotators(real):
    ami, meetings = real
    matched = 0
    for meeting, actions in meetings:
        assert classifier.applies(meeting)
        items = offline.extract(meeting).items
        assert 1 <= len(items) <= classifier.k_for(meeting) <= 8, meeting.id
        owners = {sp.name for sp in meeting.speakers} | {"Everyone"}
        for item in items:
            words = item.task.split()
            assert len(words) >= 2 and words[-1].lower() not in speech.DANGLING, item.task
            assert not re.search(
                r"(?i)\b(um|uh|mm-hmm)\b|^(yeah|okay|so|bye|thanks|hi|hello)\b", item.task
            )
            assert not speech.GREETING_OR_CLOSING.search(item.task), item.task
            assert item.quote and item.start is not None
            # a speaker, or a person named in the words ("Alima will be doing the working design")
            assert item.owner in owners or item.owner in item.quote, (item.owner, item.task)
        assert len({i.task.lower() for i in items}) == len(items)  # no task twice
        assert [i.start for i in items] == sorted(i.start for i in items)  # in the order said
        matched += sum(
            any(ami.task_matches(i.task, a) and ami.owner_matches(i.owner, a) for i in items)
            for a in actions
        )
    assert matched >= 2  # the annotators' actions are found, at least sometimes


def test_short_exchanges_stay_with_the_rules():
    meeting = make_meeting("Ann: I'll send the budget report to Carla by Friday.\nBen: Great.")
    assert not classifier.applies(meeting)
    assert [i.task for i in offline.extract(meeting).items] == ["Send the budget report to Carla"]
