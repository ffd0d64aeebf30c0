"""Diarization as a library: encoder, clustering, speaker count, channels, edge cases, DER."""

from __future__ import annotations

import numpy as np
import pytest
from qylon_agent.speech import attribution, diarize, voices
from qylon_agent.speech.audio import decode
from qylon_agent.speech.embeddings import encoder

from benchmarks import der
from qylon_cli.schemas import Segment, Word
from tests.agent.audiofiles import write_wav
from tests.agent.diarize_fixtures import build

# The voices are synthesised once per worker (the session fixture ``clips``): their tests share one.
pytestmark = pytest.mark.xdist_group("voices")

DANA_1 = "My name is Dana and I run the delivery team. I usually talk about budgets and schedules."
DANA_2 = "We should move the launch to Monday and tell the client this afternoon, before the board meets."
MARCUS = [
    "The data export ran overnight and the totals match to the cent.",
    "I will send the reconciliation sheet to the finance team by Thursday.",
    "The credit notes now carry the customer reference from the old ledger.",
    "Next week I will run the tax report against the migrated data.",
]


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voices")
    return {
        "dana_enroll": build(folder, "dana_enroll", [("Dana", DANA_1)]),
        "dana_other": build(folder, "dana_other", [("Dana", DANA_2)]),
        "solo": build(folder, "solo", [("Marcus", t) for t in MARCUS[:3]]),
        "marcus4": build(folder, "marcus4", [("Marcus", t) for t in MARCUS], pause=1.0),
        "meeting": build(
            folder,
            "meeting",
            [
                ("Dana", DANA_1),
                ("Marcus", MARCUS[0]),
                ("Priya", "That is good news. What about the credit notes?"),
                ("Marcus", MARCUS[2]),
                ("Dana", DANA_2),
                ("Priya", "Perfect. I will book a call with their controller."),
            ],
        ),
    }


def test_encoder_gives_unit_embeddings_that_tell_voices_apart(clips):
    enc = encoder()
    a, b = decode(clips["dana_enroll"]).samples, decode(clips["dana_other"]).samples
    m = decode(clips["solo"]).samples
    ea, eb, em = (enc.embed_utterance(x) for x in (a, b, m))
    for e in (ea, eb, em):
        assert e.shape == (256,) and abs(np.linalg.norm(e) - 1) < 1e-5 and (e >= 0).all()
    assert ea @ eb > 0.9 > ea @ em


def test_three_voices_found_with_low_der(clips):
    audio = decode(clips["meeting"])
    result = diarize.diarize(audio)
    assert result.n_speakers == 3
    hyp = [(t.start, t.end, str(t.speaker)) for t in result.turns]
    score = der.score(der.read_rttm(clips["meeting"].with_suffix(".rttm")), hyp)
    assert score.der < 0.08, score


def test_speaker_count_can_be_fixed_or_bounded(clips):
    audio = decode(clips["meeting"])
    assert diarize.diarize(audio, diarize.Options(num_speakers=2)).n_speakers == 2
    assert diarize.diarize(audio, diarize.Options(max_speakers=2)).n_speakers <= 2


def test_one_speaker_is_one_speaker(clips):
    for name in ("solo", "dana_other"):
        assert diarize.diarize(decode(clips[name])).n_speakers == 1, name


def test_silence_has_no_speakers_and_attribution_falls_back_to_one(tmp_path):
    silent = decode(write_wav(tmp_path / "silence.wav", np.zeros(16000 * 3, dtype=np.float32)))
    assert diarize.diarize(silent).n_speakers == 0
    segs = [Segment(start=0.0, end=1.0, text="hello")]
    out, speakers = attribution.attribute(silent, segs)
    assert [s.speaker for s in out] == ["SPEAKER_1"] and [sp.id for sp in speakers] == ["SPEAKER_1"]


def test_very_short_clips(tmp_path, clips):
    audio = decode(clips["dana_other"])
    for seconds in (0.05, 0.4, 1.0):
        piece = write_wav(
            tmp_path / f"short{seconds}.wav",
            audio.samples[int(0.45 * 16000) : int((0.45 + seconds) * 16000)],
        )
        result = diarize.diarize(decode(piece))
        assert result.n_speakers <= 1
        assert all(0 <= t.start < t.end <= seconds + 0.05 for t in result.turns)


def _two_channel(clips, tmp_path):
    """The same voice on both channels (so only the channel can tell them apart): turns 1 and 3 on
    the microphone, 2 and 4 on system audio, each leaking 30 dB down into the other channel."""
    audio = decode(clips["marcus4"])
    turns = der.read_rttm(clips["marcus4"].with_suffix(".rttm"))
    mic, system = np.zeros_like(audio.samples), np.zeros_like(audio.samples)
    for k, (start, end, _) in enumerate(turns):
        sl = slice(int(start * 16000), int(end * 16000))
        main, leak = (mic, system) if k % 2 == 0 else (system, mic)
        main[sl] += audio.samples[sl]
        leak[sl] += 0.03 * audio.samples[sl]
    stereo = np.stack([mic, system], axis=1).reshape(-1)
    return write_wav(tmp_path / "two_channel.wav", stereo, channels=2), turns


def test_two_channel_hint_splits_and_names_the_local_user(clips, tmp_path):
    path, turns = _two_channel(clips, tmp_path)
    audio = decode(path)
    assert audio.channels is not None and audio.channels.shape[0] == 2
    mono_only = diarize.diarize(decode(clips["marcus4"]))
    assert mono_only.n_speakers == 1  # one voice: without channels, nothing to tell apart
    result = diarize.diarize(audio)
    assert result.n_speakers == 2 and result.local is not None
    segs = [
        Segment(start=s, end=e, text=f"turn {k}", words=[Word(start=s, end=e, word=f" turn {k}")])
        for k, (s, e, _) in enumerate(turns)
    ]
    out, speakers = attribution.attribute(audio, segs, naming=attribution.Naming(me="Sam"))
    names = {sp.id: sp.name for sp in speakers}
    assert [names[s.speaker] for s in out] == ["Sam", None, "Sam", None]


def test_profiles_match_the_right_cluster(clips):
    _, dana, _ = voices.embed_speech(decode(clips["dana_enroll"]))
    profile = voices.Profile(
        id="p", name="Dana", samples=1, speech_s=5, created_at="", updated_at="", voice=dana
    )
    result = diarize.diarize(decode(clips["meeting"]))
    assert voices.match(result.centroids, [profile]) == {0: "Dana"}  # Dana speaks first
    solo = diarize.diarize(decode(clips["solo"]))
    assert voices.match(solo.centroids, [profile]) == {}


def test_words_split_segments_where_the_speaker_changes():
    result = diarize.Diarization(
        turns=[diarize.Turn(0.0, 2.0, 0), diarize.Turn(2.2, 4.0, 1)],
        centroids=np.eye(2, 256, dtype=np.float32),
        talk_time=[2.0, 1.8],
    )
    words = [
        Word(start=a, end=a + 0.4, word=f" w{i}")
        for i, a in enumerate([0.1, 0.6, 1.2, 2.3, 2.9, 3.5])
    ]
    seg = Segment(start=0.1, end=3.9, text="w0 w1 w2 w3 w4 w5", words=words)
    pieces = attribution._split(seg, result)
    assert [(spk, s.text) for spk, s in pieces] == [(0, "w0 w1 w2"), (1, "w3 w4 w5")]


def test_der_scorer():
    ref = [(0.0, 10.0, "a"), (10.0, 20.0, "b")]
    assert der.score(ref, [(0.0, 10.0, "x"), (10.0, 20.0, "y")]).der == 0
    assert (
        der.score(ref, [(0.0, 10.0, "y"), (10.0, 20.0, "x")]).der == 0
    )  # labels are mapped optimally
    one = der.score(ref, [(0.0, 20.0, "x")], collar=0.0)
    assert one.der == pytest.approx(0.5) and one.confusion == pytest.approx(10.0)
    missed = der.score(ref, [(0.0, 10.0, "x")], collar=0.0)
    assert missed.missed == pytest.approx(10.0) and missed.der == pytest.approx(0.5)
    # The collar forgives 0.25 s either side of each reference boundary.
    assert der.score(ref, [(0.0, 10.2, "x"), (10.2, 20.0, "y")]).der == 0
