"""Diarization and voice profiles on real speech (../shared/data), not synthesised voices.

The thresholds were calibrated on other real recordings (docs/speakers.md); these
files are the reported ones and were never tuned on.
"""

from __future__ import annotations

import numpy as np
import pytest
from qylon_agent.speech import diarize, voices
from qylon_agent.speech.audio import SAMPLE_RATE, Audio, decode

from benchmarks import der
from tests.conftest import SHARED

VOICES = SHARED / "data" / "voices"
AUDIO = SHARED / "data" / "audio"


def _clip(name: str) -> np.ndarray:
    return decode(VOICES / "cmu_arctic" / f"cmu_arctic_us_{name}.wav").samples


def _audio(samples: np.ndarray, channels: np.ndarray | None = None) -> Audio:
    return Audio(
        path=VOICES / "built.wav",
        samples=samples.astype(np.float32),
        channels=channels,
        original_rate=SAMPLE_RATE,
        original_channels=1 if channels is None else 2,
    )


def _join(
    clips: list[tuple[np.ndarray, str]], gap: float = 0.5
) -> tuple[Audio, list[tuple[float, float, str]]]:
    """Real clips one after another with pauses; the reference is each clip's speech."""
    parts, ref, t = [], [], 0.0
    for x, who in clips:
        parts += [np.zeros(int(gap * SAMPLE_RATE), np.float32), x]
        t += gap
        ref += [(t + s, t + e, who) for s, e in diarize.speech_regions(x)]
        t += len(x) / SAMPLE_RATE
    return _audio(np.concatenate(parts)), ref


def _der(result: diarize.Diarization, ref) -> float:
    return der.score(ref, [(t.start, t.end, str(t.speaker)) for t in result.turns]).der


def test_a_real_telephone_call_has_two_speakers():
    audio = decode(AUDIO / "two_speakers_call.wav")
    result = diarize.diarize(audio)
    assert result.n_speakers == 2
    assert _der(result, der.read_rttm(AUDIO / "two_speakers_call.rttm")) <= 0.12


def test_four_real_voices_are_four_speakers():
    path = VOICES / "concat_demo" / "concat_demo_4spk.wav"
    result = diarize.diarize(decode(path))
    assert result.n_speakers == 4
    assert _der(result, der.read_rttm(path.with_suffix(".rttm"))) <= 0.10


def test_two_real_voices_in_a_short_exchange_are_two_not_seven():
    audio, ref = _join(
        [
            (_clip("aew_a0001"), "aew"),
            (_clip("axb_a0004"), "axb"),
            (_clip("aew_a0002"), "aew"),
            (_clip("axb_a0005"), "axb"),
            (_clip("aew_a0003"), "aew"),
            (_clip("axb_a0006"), "axb"),
        ]
    )
    result = diarize.diarize(audio)
    assert result.n_speakers == 2
    assert _der(result, ref) <= 0.10


def test_one_real_voice_is_one_speaker():
    assert diarize.diarize(decode(AUDIO / "jfk.wav")).n_speakers == 1
    audio, _ = _join([(_clip(f"aew_a000{i}"), "aew") for i in (1, 2, 3)])
    assert diarize.diarize(audio).n_speakers == 1


def test_a_short_turn_keeps_its_own_speaker():
    """axb's "Will we ever forget it." (1.4 s) between two of aew's sentences."""
    audio, ref = _join(
        [
            (_clip("aew_a0001"), "aew"),
            (_clip("axb_a0005"), "axb"),
            (_clip("aew_a0002"), "aew"),
            (_clip("axb_a0004"), "axb"),
            (_clip("aew_a0003"), "aew"),
        ]
    )
    result = diarize.diarize(audio)
    assert result.n_speakers == 2
    short = next(r for r in ref if r[2] == "axb")
    assert result.speaker_between(short[0], short[1]) != result.speaker_between(
        ref[0][0], ref[0][1]
    )


def test_two_channel_call_puts_the_microphone_on_the_local_user():
    """faster-whisper's stereo test file: one real person per channel, talking over each other."""
    path = VOICES / "faster_whisper_stereo" / "stereo_diarization.wav"
    audio = decode(path)
    result = diarize.diarize(audio)
    assert result.n_speakers == 2 and result.local is not None
    left = diarize.speech_regions(audio.channels[0])
    right_only = [
        (s, e)
        for s, e in diarize.speech_regions(audio.channels[1])
        if s > left[0][1] or e < left[0][0]
    ]
    _start, end = left[0]
    assert (
        result.speaker_between(end - 1.0, end) == result.local
    )  # the end of the left speaker's turn, alone
    for s, e in right_only:
        assert result.speaker_between(s, e) != result.local


def test_two_channel_with_speech_on_one_channel_is_a_mono_meeting():
    audio, ref = _join(
        [(_clip("aew_a0001"), "aew"), (_clip("axb_a0004"), "axb"), (_clip("aew_a0002"), "aew")]
    )
    stereo = np.stack([audio.samples, np.zeros_like(audio.samples)])
    result = diarize.diarize(_audio(audio.samples, stereo))
    assert result.n_speakers == 2 and _der(result, ref) <= 0.10


@pytest.mark.parametrize("who,other", [("aew", "axb"), ("axb", "aew")])
def test_an_enrolled_real_voice_is_named_and_no_one_else(who, other):
    enroll = {"aew": ["aew_a0001", "aew_a0002"], "axb": ["axb_a0004", "axb_a0006"]}[who]
    test = {"aew": "aew_a0003", "axb": "axb_a0005"}[who]
    clip, _ = _join([(_clip(c), who) for c in enroll])
    _, voice, _ = voices.embed_speech(clip)
    profile = voices.Profile(
        id="p", name=who, samples=1, speech_s=8, created_at="", updated_at="", voice=voice
    )
    others = {"aew": ["axb_a0004", "axb_a0006"], "axb": ["aew_a0001", "aew_a0002"]}[who]
    meeting, _ = _join([(_clip(others[0]), other), (_clip(test), who), (_clip(others[1]), other)])
    result = diarize.diarize(meeting)
    named = voices.match(result.centroids, [profile])
    assert list(named.values()) == [who]
    assert result.speaker_between(*_speech_of(meeting, 1)) == next(iter(named))
    jfk = diarize.diarize(decode(AUDIO / "jfk.wav"))
    assert voices.match(jfk.centroids, [profile]) == {}


def _speech_of(audio: Audio, k: int) -> tuple[float, float]:
    """The k-th speech region of a joined meeting (one region per clip, clips far apart)."""
    regions = diarize.speech_regions(audio.samples)
    merged: list[list[float]] = []
    for s, e in regions:
        if merged and s - merged[-1][1] < 0.45:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return tuple(merged[k])


@pytest.mark.slow
def test_a_voice_named_in_a_client_meeting_names_them_in_the_next_one(qylon, qylon_home, tmp_path):
    """speakers.learn_per_client: name a real voice once in an Acme meeting, and Acme's next
    meeting (other sentences, other recording) names them; another client's does not."""
    from tests.agent.audiofiles import write_wav

    first, _ = _join(
        [(_clip("aew_a0001"), "aew"), (_clip("axb_a0004"), "axb"), (_clip("aew_a0002"), "aew")]
    )
    second, _ = _join(
        [(_clip("axb_a0006"), "axb"), (_clip("aew_a0003"), "aew"), (_clip("axb_a0005"), "axb")]
    )
    one, two = (
        write_wav(tmp_path / "first.wav", first.samples),
        write_wav(tmp_path / "second.wav", second.samples),
    )
    assert qylon("config", "set", "speakers.learn_per_client", "true").code == 0
    meeting = qylon("meeting", "transcribe", str(one), "--client", "Acme", "--json").json["data"]
    alan = next(s["speaker"] for s in meeting["segments"] if "danger trail" in s["text"].lower())
    named = qylon("meeting", "rename-speaker", meeting["id"][:8], alan, "Alan", "--json").json[
        "data"
    ]
    assert named["learnt_for_client"] == "Acme"
    again = qylon("meeting", "transcribe", str(two), "--client", "Acme", "--json").json["data"]
    who = {sp["id"]: sp for sp in again["speakers"]}
    his = next(s["speaker"] for s in again["segments"] if "shook hands" in s["text"].lower())
    assert who[his]["name"] == "Alan" and who[his]["name_source"] == "profile"
    assert [sp["name"] for sp in again["speakers"] if sp["id"] != his] == [None]
    other = qylon("meeting", "transcribe", str(two), "--client", "Globex", "--json").json["data"]
    assert all(sp["name"] is None for sp in other["speakers"])


@pytest.mark.parametrize("echoing", ["system", "microphone"])
def test_a_channel_that_only_echoes_the_other_is_not_a_side_of_the_call(echoing):
    """All the speech is on one channel; the other hears it 26 dB down, 40 ms late (a room,
    speakers and a microphone). That is one side's meeting, not a call with a silent user."""
    audio, ref = _join(
        [(_clip("aew_a0001"), "aew"), (_clip("axb_a0004"), "axb"), (_clip("aew_a0002"), "aew")]
    )
    echo = 0.05 * np.roll(audio.samples, int(0.04 * SAMPLE_RATE))
    channels = np.stack([echo, audio.samples] if echoing == "microphone" else [audio.samples, echo])
    result = diarize.diarize(_audio(audio.samples + echo, channels))
    assert result.n_speakers == 2 and result.local is None
    assert _der(result, ref) <= 0.10


@pytest.mark.slow
def test_words_said_at_once_on_a_call_are_all_kept_and_go_to_the_right_side(qylon, tmp_path):
    """A two-channel call where the other side (two real voices) talks over the user (JFK):
    each side is transcribed alone, so both people's words are in the transcript, each
    with its speaker; the call's echo in the microphone is not transcribed as the user's."""
    from tests.agent.audiofiles import write_wav

    jfk = decode(AUDIO / "jfk.wav").samples
    others, _ = _join(
        [(_clip("aew_a0001"), "aew"), (_clip("axb_a0004"), "axb"), (_clip("aew_a0003"), "aew")],
        gap=0.4,
    )
    n = max(len(jfk), len(others.samples)) + SAMPLE_RATE
    mic, system = np.zeros(n, np.float32), np.zeros(n, np.float32)
    mic[SAMPLE_RATE // 2 : SAMPLE_RATE // 2 + len(jfk)] += jfk
    system[SAMPLE_RATE : SAMPLE_RATE + len(others.samples)] += others.samples
    mic += 10 ** (-25 / 20) * np.roll(
        system, int(0.03 * SAMPLE_RATE)
    )  # the call, heard by the microphone
    stereo = np.stack([mic, system], axis=1).reshape(-1)
    path = write_wav(tmp_path / "talk_over.wav", stereo, channels=2)
    meeting = qylon("meeting", "transcribe", str(path), "--json").json["data"]
    said = {}
    for seg in meeting["segments"]:
        said.setdefault(seg["speaker"], []).append(seg["text"].lower())
    me = next(sp["id"] for sp in meeting["speakers"] if sp["name_source"] == "local")
    mine = " ".join(said[me])
    theirs = " ".join(" ".join(v) for k, v in said.items() if k != me)
    assert "fellow americans" in mine and "your country" in mine
    assert "danger trail" in theirs and "shook hands" in theirs
    assert "danger" not in mine and "americans" not in theirs
