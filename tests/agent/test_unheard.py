"""Nothing lost at the end of a meeting: speech that voice activity hears but no word covers
is transcribed again on its own, and what stays empty is reported with its time range.

Real speech throughout (the shared recordings); each accepted format is held to the WAV
transcript's word count and keeps the last turn, a recap-like closing sentence."""

from __future__ import annotations

import numpy as np
import pytest
from qylon_agent.speech import transcribe as stt
from qylon_agent.speech import unheard
from qylon_agent.speech.audio import decode

from qylon_cli.schemas import Segment, Word

from ..conftest import AUDIO, SAMPLES
from .audiofiles import FORMATS, read_wav, write_wav

LAST_TURN = "ask not what your country can do for you"


def meeting_audio() -> np.ndarray:
    """A 43 s meeting of real speech: a two-person call, a pause, then one closing turn (JFK)."""
    call, jfk = read_wav(AUDIO / "two_speakers_call.wav"), read_wav(AUDIO / "jfk.wav")
    return np.concatenate([call, np.zeros(16000, np.float32), jfk, np.zeros(8000, np.float32)])


def words(segments) -> list[str]:
    return " ".join(s.text for s in segments).lower().replace(",", "").replace(".", "").split()


def test_uncovered_speech_is_what_no_word_covers():
    speech = [unheard.Stretch(0.0, 10.0), unheard.Stretch(20.0, 30.0)]
    said = [
        Segment(
            start=0.2,
            end=4.0,
            text="a b",
            words=[Word(start=0.2, end=1.0, word=" a"), Word(start=3.0, end=4.0, word=" b")],
        ),
        Segment(start=20.0, end=21.0, text="c"),
    ]  # a segment without word times covers its span
    gaps = [g.to_dict() for g in unheard.uncovered(speech, said)]
    assert gaps == [
        {"start": 1.5, "end": 2.5},
        {"start": 4.5, "end": 10.0},
        {"start": 21.5, "end": 30.0},
    ]
    assert (
        unheard.uncovered([unheard.Stretch(5.0, 5.8)], []) == []
    )  # too short to be worth a second pass


def test_a_last_turn_the_model_gave_up_on_is_transcribed_again(tmp_path):
    audio = decode(write_wav(tmp_path / "meeting.wav", meeting_audio()))
    opts = stt.Options(threads=1)
    full = stt.transcribe(audio, opts)
    assert full.unheard == [] and LAST_TURN in " ".join(words(full.segments))
    # The first pass as when the model gives up in its last window: nothing after the call.
    gave_up = stt.Transcript(
        language="en", model=opts.model, segments=[s for s in full.segments if s.start < 30.5]
    )
    assert LAST_TURN not in " ".join(words(gave_up.segments))
    stt._hear_the_rest(stt.load_model(opts), audio, gave_up, language="en", beam_size=5)
    assert [g["start"] < 31.5 and g["end"] > 41.5 for g in gave_up.recovered] == [True]
    assert LAST_TURN in " ".join(words(gave_up.segments)) and gave_up.unheard == []
    assert abs(len(words(gave_up.segments)) - len(words(full.segments))) <= 2


def shipped_sample() -> np.ndarray:
    """The sample meeting `make demo` transcribes; its last turn closes the meeting."""
    return decode(SAMPLES / "team_meeting.ogg").samples


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make", "last_turn"),
    [(meeting_audio, LAST_TURN), (shipped_sample, "talk next week")],
    ids=["shared-recordings", "shipped-sample"],
)
def test_every_format_keeps_the_last_turn_and_the_wav_word_count(
    qylon_here, tmp_path, make, last_turn
):
    """In-process (one model load for the twelve transcriptions); the false-alarm tests
    below run the real subprocess."""
    qylon = qylon_here
    samples = make()
    counts = {}
    for suffix in (".wav", *FORMATS):
        path = tmp_path / f"meeting{suffix}"
        if suffix == ".wav":
            write_wav(path, samples)
        else:
            from .audiofiles import encode

            encode(samples, path)
        result = qylon(
            "meeting", "transcribe", str(path), "--no-diarize", "--extractor", "offline", "--json"
        )
        assert result.code == 0, result.stderr
        data = result.json["data"]
        assert data["warnings"] == [], suffix
        said = words(Segment(**s) for s in data["segments"])
        assert last_turn in " ".join(said), suffix
        counts[suffix] = len(said)
    assert all(abs(n - counts[".wav"]) <= 0.05 * counts[".wav"] for n in counts.values()), counts


@pytest.mark.parametrize("name", ["jfk.wav", "two_speakers_call.wav"])
def test_no_false_alarm_on_the_shared_recordings(qylon, name):
    data = qylon(
        "meeting",
        "transcribe",
        str(AUDIO / name),
        "--no-diarize",
        "--extractor",
        "offline",
        "--json",
    ).json["data"]
    assert data["warnings"] == [] and data["recovered"] == []
