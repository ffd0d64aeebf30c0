"""The crash-safe recording format: a growing WAV repaired on recovery, a manifest, a lock."""

from __future__ import annotations

import os
import subprocess
import sys
import wave

import numpy as np
from qylon_agent.recording import files as recording
from qylon_agent.recording.recover import finalise
from qylon_agent.speech import audio


def test_torn_wav_is_repaired_into_a_valid_file(tmp_path):
    base = recording.root()
    rec = recording.Recording.create(base, title="t", rate=16000, channels=2, transcribe=True)
    writer = recording.WavWriter(rec.audio, 16000, 2)
    tone = (np.sin(np.arange(32000) / 5) * 10000).astype("<i2")
    writer.write(np.stack([tone, -tone], axis=1).tobytes())
    os.close(writer.fd)  # the process "dies": no finalising
    with rec.audio.open("ab") as fh:
        fh.write(b"\x01\x02\x03")  # half a frame, torn by the crash
    with rec.audio.open("rb") as fh:
        assert fh.read(8)[4:] == b"\xff\xff\xff\xff"  # header: size unknown while recording
    rec.unlock()
    assert [r.id for r in recording.pending(base)] == [rec.id]
    finalise(recording.Recording(rec.folder))
    with wave.open(str(rec.audio)) as fh:
        assert (fh.getnchannels(), fh.getframerate(), fh.getnframes()) == (2, 16000, 32000)
    decoded = audio.decode(rec.audio)
    assert decoded.channels.shape == (2, 32000) and abs(decoded.duration_s - 2.0) < 0.01
    again = recording.Recording(rec.folder)
    assert (
        again.state == "finalised" and again.meta["duration_s"] == 2.0 and again.meta["recovered"]
    )
    assert not (rec.folder / recording.RESERVE).exists()


def test_a_live_recording_is_not_recovered(tmp_path):
    base = recording.root()
    rec = recording.Recording.create(base, title="live")
    assert recording.pending(base) == []  # this process holds the lock
    code = "from qylon_agent.recording import files as r; import sys; print(r.Recording(r.root().joinpath(sys.argv[1])).is_live())"
    other = subprocess.run(
        [sys.executable, "-c", code, rec.id],
        check=False,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert other.stdout.strip() == "True", other.stderr
    rec.unlock()
    other = subprocess.run(
        [sys.executable, "-c", code, rec.id],
        check=False,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert other.stdout.strip() == "False", other.stderr


def test_recover_with_nothing_to_do(qylon):
    result = qylon("meeting", "recover", "--json")
    assert result.code == 0 and result.json == {"data": []}


def test_recover_no_transcribe_finalises_only(qylon):
    base = recording.root()
    rec = recording.Recording.create(base, title="Crashed", rate=16000, channels=1, transcribe=True)
    writer = recording.WavWriter(rec.audio, 16000, 1)
    writer.write(np.zeros(8000, dtype="<i2").tobytes())
    os.close(writer.fd)
    rec.unlock()
    result = qylon("meeting", "recover", "--no-transcribe", "--json")
    assert result.code == 0, result.stderr
    [done] = result.json["data"]
    assert done["meeting_id"] is None and done["error"] is None
    assert done["recording"]["state"] == "finalised" and done["recording"]["duration_s"] == 0.5
    assert qylon("meeting", "recover", "--json").json == {
        "data": []
    }  # the user chose: not pending any more


def test_recover_reports_a_recording_without_speech(qylon):
    base = recording.root()
    rec = recording.Recording.create(base, title="Silence", rate=16000, channels=1, transcribe=True)
    writer = recording.WavWriter(rec.audio, 16000, 1)
    writer.write(np.zeros(32000, dtype="<i2").tobytes())
    os.close(writer.fd)
    rec.unlock()
    result = qylon("meeting", "recover", "--json")
    assert result.code == 1
    [done] = result.json["data"]
    assert done["error"]["code"] == "no_speech" and str(rec.audio) in done["error"]["hint"]
    assert rec.audio.exists()
