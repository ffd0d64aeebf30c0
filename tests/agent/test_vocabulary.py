"""Names the model does not know, handed to it as hot words: measured on a real recording
whose names tiny.en mishears ("Philip steals", "apologized to it more" for Whittemore).

The commands run in-process (``run_qylon_here``), so the model loads once (its per-process
cache in qylon_agent.speech.transcribe) rather than once per command; the last
transcription, with the global list, runs the real subprocess (``qylon_process``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from qylon_agent.speech import vocabulary
from qylon_agent.store.database import Store

from qylon_cli import settings as settings_mod
from qylon_cli.schemas import Meeting, Segment, Speaker

from ..conftest import SHARED, run_qylon_here

DEMO = SHARED / "data" / "voices" / "concat_demo" / "concat_demo_4spk.wav"


@pytest.fixture
def qylon():
    """In-process; see the module docstring for the command on the real subprocess."""
    return run_qylon_here


def text_of(qylon, *extra) -> str:
    result = qylon(
        "meeting",
        "transcribe",
        str(DEMO),
        "--no-diarize",
        "--extractor",
        "offline",
        *extra,
        "--json",
    )
    assert result.code == 0, result.stderr
    return " ".join(s["text"] for s in result.json["data"]["segments"])


def test_a_clients_vocabulary_fixes_its_names(qylon, qylon_process):
    plain = text_of(qylon)
    # Misheard without help ("apologized to it more"); newer CTranslate2 builds hear "Philip Steels" unaided.
    assert "Whittemore" not in plain
    assert "Whittemore" not in text_of(qylon, "--client", "Globex")
    assert qylon("config", "set", "vocabulary.Globex", "Whittemore, Philip Steels").code == 0
    helped = text_of(qylon, "--client", "globex")  # the client's name in any case
    assert "Whittemore" in helped and "Philip Steels" in helped
    # Only that client's meetings get its words; the global list goes to every meeting.
    assert "Whittemore" not in text_of(qylon, "--client", "Initech")
    assert qylon("config", "set", "transcribe.vocabulary", "Whittemore").code == 0
    assert "Whittemore" in text_of(qylon_process)


def test_the_clients_name_and_people_come_on_their_own(qylon_home):
    store = Store()
    store.save_meeting(
        Meeting(
            id="55555555-5555-4555-8555-555555555555",
            title="Earlier",
            client="Globex",
            created_at=datetime(2026, 11, 2, tzinfo=UTC),
            speakers=[Speaker(id="SPEAKER_1", name="Hank Scorpio"), Speaker(id="SPEAKER_2")],
            segments=[Segment(start=0, end=1, text="hello", speaker="SPEAKER_1")],
        )
    )
    store.close()
    settings = settings_mod.load()
    assert vocabulary.hotwords(settings, "Globex") == "Globex, Hank Scorpio"
    assert vocabulary.hotwords(settings, "Initech") == "Initech"
    assert vocabulary.hotwords(settings, None) is None
