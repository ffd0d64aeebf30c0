"""Strict decoding: every supported format decodes; damaged input is refused by name."""

from __future__ import annotations

import pytest
from qylon_agent.speech.audio import decode

from qylon_cli.errors import InvalidInput

from .audiofiles import FORMATS, encode, read_wav


@pytest.fixture(scope="module")
def jfk_samples(jfk_wav):
    return read_wav(jfk_wav)


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_every_format_decodes(tmp_path, jfk_samples, suffix):
    path = encode(jfk_samples, tmp_path / f"jfk{suffix}")
    audio = decode(path)
    assert audio.duration_s == pytest.approx(11.0, abs=0.1)
    assert audio.samples.dtype.name == "float32"
    assert 0.01 < float(abs(audio.samples).mean()) < 0.5


@pytest.mark.parametrize("suffix", [".wav", ".ogg", ".webm", ".flac", ".m4a"])
def test_truncated_files_are_refused(tmp_path, jfk_wav, jfk_samples, suffix):
    whole = jfk_wav if suffix == ".wav" else encode(jfk_samples, tmp_path / f"whole{suffix}")
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInput) as err:
        decode(cut)
    assert str(cut) in err.value.message


def test_not_audio(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("these are meeting notes, not a recording\n" * 20)
    with pytest.raises(InvalidInput, match="not an audio file"):
        decode(text)


def test_empty_and_missing(tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.touch()
    with pytest.raises(InvalidInput, match="empty"):
        decode(empty)
    with pytest.raises(InvalidInput, match="no such file"):
        decode(tmp_path / "nope.wav")


def test_corrupt_flac(tmp_path, jfk_samples):
    path = encode(jfk_samples, tmp_path / "jfk.flac")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = bytes(2000)
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="corrupt"):
        decode(path)


def test_stereo_keeps_channels(tmp_path, jfk_samples):
    import numpy as np

    from .audiofiles import write_wav

    stereo = np.stack([jfk_samples, np.zeros_like(jfk_samples)], axis=1).reshape(-1)
    audio = decode(write_wav(tmp_path / "two.wav", stereo, channels=2))
    assert audio.original_channels == 2
    assert audio.channels.shape == (2, len(audio.samples))
    assert float(abs(audio.channels[1]).max()) == 0.0
