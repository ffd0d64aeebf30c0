"""Encryption at rest (`qylon privacy`, docs/privacy.md): the container, the keys, sealed
recordings and the SQLCipher store, proved on a real recording (jfk.wav) by searching
every file on disk byte by byte for its words and its samples."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from ..conftest import AUDIO, run_qylon, run_qylon_here

JFK = AUDIO / "jfk.wav"
WORDS = [b"fellow", b"americans", b"country", b"FELLOW", b"Americans", b"Inaugural"]
FAIL_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@pytest.fixture(autouse=True)
def _fresh_unlock_cache():
    from qylon_agent.crypto import keys

    keys._UNLOCKED.clear()
    yield
    keys._UNLOCKED.clear()


def encrypt_on(**more: str) -> None:
    assert run_qylon_here("config", "set", "privacy.encrypt", "true").code == 0
    for key, value in more.items():
        assert run_qylon_here("config", "set", f"privacy.{key}", value).code == 0


def jfk_pcm() -> tuple[int, bytes]:
    with wave.open(str(JFK)) as fh:
        return fh.getframerate(), fh.readframes(fh.getnframes())


def record_jfk(chunk_s: float = 0.1, transcribe: bool = True) -> str:
    """A recording made by the recorder's own writer (the PCM of jfk.wav, chunk by chunk)."""
    from qylon_agent.recording import files, recover

    rate, pcm = jfk_pcm()
    rec = files.Recording.create(files.root(), title="Inaugural", transcribe=transcribe)
    writer = rec.writer(rate, 1)
    step = int(rate * chunk_s) * 2
    for i in range(0, len(pcm), step):
        writer.write(pcm[i : i + step])
    writer.close()
    rec.update(state="recording", stopped_by="signal")
    recover.finalise(rec)
    rec.unlock()
    return rec.id


def all_bytes(home: Path) -> list[tuple[Path, bytes]]:
    return [
        (p, p.read_bytes())
        for p in home.rglob("*")
        if p.is_file() and p.name != "test-keyring.json"  # the OS keyring's stand-in
    ]


def assert_no_plaintext(home: Path, pcm: bytes) -> None:
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples) > 3000)
    # 32-byte runs of real speech samples from across the recording.
    probes = [pcm[2 * i : 2 * i + 32] for i in loud[:: max(1, len(loud) // 50)][:50]]
    for path, data in all_bytes(home):
        for word in WORDS:
            assert word not in data, f"{word!r} in {path}"
        for probe in probes:
            assert probe not in data, f"audio samples in {path}"


# -- the container -------------------------------------------------------------
def test_container_round_trip_and_tampering():
    from qylon_agent.crypto import container

    key, key_id = container.new_key(), container.new_key_id()
    blob = container.seal(key, key_id, b"secret words", "data-key:x")
    assert blob[:4] == b"QYLN" and blob[4] == 1 and blob[6:22] == key_id
    assert container.open_sealed(key, blob, "data-key:x") == b"secret words"
    with pytest.raises(container.Undecryptable):
        container.open_sealed(key, blob, "data-key:y")  # moved to another place
    with pytest.raises(container.Undecryptable):
        container.open_sealed(container.new_key(), blob, "data-key:x")
    changed = bytearray(blob)
    changed[-1] ^= 1
    with pytest.raises(container.Undecryptable):
        container.open_sealed(key, bytes(changed), "data-key:x")


def test_sealed_stream_drops_only_a_torn_last_chunk(tmp_path):
    from qylon_agent.crypto import container, stream

    key, key_id = container.new_key(), container.new_key_id()
    rate, pcm = jfk_pcm()
    path = tmp_path / "audio.sealed"
    writer = stream.SealedWriter(path, rate, 1, key_id, key)
    step = rate // 10 * 2
    for i in range(0, len(pcm), step):
        writer.write(pcm[i : i + step])
    writer.sync()
    # A crash in the middle of the last write: part of a record on disk.
    with open(path, "ab") as fh:
        fh.write(stream.RECORD.pack(1000, b"\0" * 12) + b"x" * 300)
    info = stream.finalise(path)
    assert info.frames == len(pcm) // 2
    assert stream.read_pcm(path, key)[1] == pcm
    # Records cannot be swapped: each is bound to its place.
    data = bytearray(path.read_bytes())
    (a, n), (b, m) = info.records[0], info.records[1]
    assert n == m
    data[a : a + 12 + n], data[b : b + 12 + m] = data[b : b + 12 + m], data[a : a + 12 + n]
    path.write_bytes(bytes(data))
    with pytest.raises(container.Undecryptable):
        stream.read_pcm(path, key)


# -- the proofs ----------------------------------------------------------------
@pytest.mark.slow
def test_nothing_readable_on_disk_and_survives_rotation(qylon_home):
    """A recording of jfk.wav, transcribed and searchable, leaves neither its words nor
    its samples anywhere under QYLON_HOME; after rotate-key it still reads back."""
    from qylon_agent.crypto import stream
    from qylon_agent.speech import audio

    encrypt_on()
    rec_id = record_jfk()
    result = run_qylon("meeting", "recover", "--json")
    assert result.code == 0, result.stderr
    [done] = result.json["data"]
    assert done["recording"]["audio_path"].endswith("audio.sealed")
    found = run_qylon_here("meeting", "search", "fellow americans", "--json")
    assert found.json["data"]["items"][0]["meeting_id"] == rec_id
    _, pcm = jfk_pcm()
    assert_no_plaintext(qylon_home, pcm)
    sealed = qylon_home / "recordings" / rec_id / "audio.sealed"
    assert stream.is_sealed_file(sealed) and not (sealed.parent / "audio.wav").exists()

    rotated = run_qylon_here("privacy", "rotate-key", "--json")
    assert rotated.code == 0, rotated.stderr
    assert rotated.json["data"]["install_key_id"] != rotated.json["data"]["old_install_key_id"]
    status = run_qylon_here("privacy", "status", "--json").json["data"]
    assert status["store"] == "sealed" and status["recordings"] == {"sealed": 1, "plain": 0}
    # Still searchable, and the audio decodes to what was recorded (in memory only).
    found = run_qylon_here("meeting", "search", "fellow americans", "--json")
    assert found.json["data"]["items"][0]["meeting_id"] == rec_id
    assert stream.read_pcm(sealed, stream.open_recording(sealed) and _key(rec_id))[1] == pcm
    exported = qylon_home.parent / "listen.wav"
    result = run_qylon_here("privacy", "export-audio", rec_id[:8], "-o", str(exported), "--json")
    assert result.code == 0, result.stderr
    with wave.open(str(exported)) as fh:
        assert fh.readframes(fh.getnframes()) == pcm
    decoded = audio.decode(sealed)
    assert decoded.duration_s == pytest.approx(len(pcm) / 2 / 16000, abs=0.01)
    assert_no_plaintext(qylon_home, pcm)


def _key(meeting_id: str) -> bytes:
    from qylon_agent.crypto import keys

    return keys.Keys.load().data_key(keys.meeting_key_name(meeting_id))[1]


@pytest.mark.slow
def test_a_forgotten_meeting_cannot_be_read_back_from_a_copy(qylon_home, tmp_path):
    from qylon_agent.crypto import container, keys, stream
    from qylon_agent.store.database import Store

    from qylon_cli.errors import QylonError

    encrypt_on()
    rec_id = record_jfk()
    assert run_qylon("meeting", "recover", "--json").code == 0
    copy = tmp_path / "copy-before-forget"
    shutil.copytree(qylon_home, copy)
    # The copy opens with the keys as they are now (the proof below is not vacuous).
    assert Store(copy / "qylon.db").db["meetings"].count == 1

    result = run_qylon("privacy", "forget", rec_id[:8], "--yes", "--json")
    assert result.code == 0, result.stderr
    forgotten = result.json["data"]
    assert forgotten["key_destroyed"] and forgotten["store_rekeyed"]
    assert not (qylon_home / "recordings" / rec_id).exists()
    assert run_qylon_here("meeting", "search", "fellow", "--json").json["data"]["items"] == []
    assert run_qylon_here("meeting", "show", rec_id, "--json").code == 5

    # The copy's files, with everything this install holds now, open nothing.
    keys._UNLOCKED.clear()
    with pytest.raises(QylonError):
        Store(copy / "qylon.db")  # the store's key then is gone
    old_keys = keys.Keys(copy / "keys.json", json.loads((copy / "keys.json").read_text()))
    with pytest.raises(QylonError) as err:
        old_keys.data_key(keys.meeting_key_name(rec_id))  # its install key is gone
    assert err.value.code == "install_key_missing"
    now = keys.Keys.load()
    sealed = copy / "recordings" / rec_id / "audio.sealed"
    with pytest.raises(container.Undecryptable):
        now.find_key(stream.scan(sealed).key_id)
    # Nor by a key the copy's keys.json would open with this install's key file.
    with pytest.raises(QylonError):
        keys.Keys(copy / "keys.json", old_keys.doc, install_key=None).find_key(
            stream.scan(sealed).key_id
        )
    _, pcm = jfk_pcm()
    assert_no_plaintext(copy, pcm)
    # The rest is still readable after the forget.
    assert run_qylon_here("privacy", "status", "--json").json["data"]["install_key"] == "available"


def test_passphrase_where_there_is_no_keyring(qylon_home):
    from qylon_agent.store.database import Store

    from qylon_cli.schemas import Meeting, Segment

    env = {**FAIL_KEYRING, "QYLON_PASSPHRASE": "correct horse battery"}
    assert run_qylon("config", "set", "privacy.encrypt", "true", env=env).code == 0
    status = run_qylon("privacy", "status", "--json", env=env)
    assert status.code == 0, status.stderr
    assert run_qylon("meeting", "list", "--json", env=env).code == 0  # creates the store
    doc = json.loads((qylon_home / "keys.json").read_text())
    assert doc["source"] == "passphrase" and doc["passphrase"]["kdf"] == "scrypt"
    status = run_qylon("privacy", "status", "--json", env=env).json["data"]
    assert status["store"] == "sealed" and status["install_key"] == "available"
    wrong = run_qylon("meeting", "list", "--json", env={**env, "QYLON_PASSPHRASE": "wrong one"})
    assert wrong.code == 4 and wrong.json["error"]["code"] == "wrong_passphrase"
    missing = run_qylon("meeting", "list", "--json", env={**FAIL_KEYRING, "CI": "1"})
    assert missing.code == 4 and missing.json["error"]["code"] == "passphrase_required"
    # Rotation keeps the passphrase and the data.
    import os

    os.environ.update(env)
    try:
        store = Store()
        store.save_meeting(
            Meeting(
                id="m1",
                title="t",
                source="x",
                created_at="2026-01-01T00:00:00Z",
                duration_s=1,
                language="en",
                model="tiny",
                segments=[Segment(start=0, end=1, text="fellow americans")],
            )
        )
        store.close()
    finally:
        for k in env:
            os.environ.pop(k)
    assert run_qylon("privacy", "rotate-key", "--json", env=env).code == 0
    found = run_qylon("meeting", "search", "americans", "--json", env=env)
    assert found.code == 0 and found.json["data"]["items"][0]["meeting_id"] == "m1"


def test_seal_existing_then_export_and_import_the_key(qylon_home, tmp_path):
    """A plain store and a plain recording made before encryption was on get sealed;
    a lost keyring entry comes back from the exported key."""
    from qylon_agent.crypto import stream

    rec_id = record_jfk()  # plain: encryption is off
    assert run_qylon("meeting", "list", "--json").code == 0
    plain_wav = qylon_home / "recordings" / rec_id / "audio.wav"
    assert plain_wav.exists()
    refused = run_qylon_here("privacy", "seal-existing", "--json")
    assert refused.code == 1 and refused.json["error"]["code"] == "encryption_off"
    encrypt_on()
    before = run_qylon_here("privacy", "status", "--json").json["data"]
    assert before["store"] == "plain" and before["recordings"]["plain"] == 1 and before["warnings"]
    result = run_qylon("privacy", "seal-existing", "--json")
    assert result.code == 0, result.stderr
    assert result.json["data"] == {"store_sealed": True, "recordings_sealed": [rec_id]}
    after = run_qylon_here("privacy", "status", "--json").json["data"]
    assert after["store"] == "sealed" and after["recordings"] == {"sealed": 1, "plain": 0}
    assert not plain_wav.exists()
    _, pcm = jfk_pcm()
    sealed = plain_wav.with_name("audio.sealed")
    assert stream.read_pcm(sealed, _key(rec_id))[1] == pcm

    exported = tmp_path / "key.txt"
    assert run_qylon_here("privacy", "export-key", "-o", str(exported)).code == 0
    assert exported.stat().st_mode & 0o077 == 0
    (qylon_home / "test-keyring.json").unlink()  # the keyring lost it
    lost = run_qylon("meeting", "list", "--json")
    assert lost.code == 4 and lost.json["error"]["code"] == "install_key_missing"
    bad = run_qylon("privacy", "import-key", "-", "--json", input="not a key")
    assert bad.code == 3 and bad.json["error"]["code"] == "invalid_key"
    back = run_qylon("privacy", "import-key", str(exported), "--json")
    assert back.code == 0, back.stderr
    assert run_qylon("meeting", "list", "--json").code == 0


def test_retention_removes_old_audio_then_old_meetings(qylon_home):
    import time

    from qylon_agent.privacy import retention
    from qylon_agent.recording import files

    from qylon_cli import settings

    encrypt_on(keep_audio_days="7", keep_transcripts_days="30")
    rec_id = record_jfk()
    assert run_qylon("meeting", "recover", "--json").code == 0
    dry = run_qylon_here("privacy", "retention", "--json")
    assert dry.code == 0 and dry.json["data"]["audio"] == []
    later = time.time() + 8 * 86400
    plan = retention.plan(settings.load(), now=later)
    assert [a["id"] for a in plan["audio"]] == [rec_id] and plan["meetings"] == []
    retention.apply(settings.load(), now=later)
    rec = files.Recording(qylon_home / "recordings" / rec_id)
    assert not rec.audio.exists() and rec.meta["audio_removed_by"] == "retention"
    show = run_qylon_here("meeting", "show", rec_id, "--json")
    assert show.code == 0 and show.json["data"]["segments"]  # the transcript stays
    assert (
        "meeting:" + rec_id not in json.loads((qylon_home / "keys.json").read_text())["data_keys"]
    )
    gone = retention.apply(settings.load(), now=time.time() + 31 * 86400)
    assert [m["id"] for m in gone["meetings"]] == [rec_id]
    assert run_qylon_here("meeting", "show", rec_id, "--json").code == 5


def test_the_agent_applies_retention_and_forget_waits_for_it(qylon_process, qylon_home):
    import time

    from qylon_agent.recording import files

    encrypt_on(keep_audio_days="1")
    rec_id = record_jfk(transcribe=False)
    rec = files.Recording(qylon_home / "recordings" / rec_id)
    two_days_ago = time.time() - 2 * 86400
    rec.update(created_at=two_days_ago, started_at=two_days_ago)
    assert rec.audio.exists()
    assert qylon_process("agent", "start").code == 0
    try:
        deadline = time.time() + 60
        while rec.audio.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert not rec.audio.exists()
        assert files.Recording(rec.folder).meta["audio_removed_by"] == "retention"
        refused = qylon_process("privacy", "forget", rec_id, "--yes", "--json")
        assert refused.code == 1 and refused.json["error"]["code"] == "agent_running"
    finally:
        qylon_process("agent", "stop")
    assert qylon_process("privacy", "forget", rec_id, "--yes", "--json").code == 0
    assert not rec.folder.exists()


def test_cli_errors_and_help():
    result = run_qylon_here("privacy", "export-key", "--json")
    assert result.code == 5 and result.json["error"]["code"] == "no_keys"
    encrypt_on()
    assert run_qylon_here("meeting", "list", "--json").code == 0
    result = run_qylon_here("privacy", "forget", "abcdef12", "--yes", "--json")
    assert result.code == 5
    result = run_qylon_here("privacy", "forget", "abcdef12", "--json")
    assert result.code == 2  # destructive: --yes without a terminal
    # A forget a crash interrupted after the files went leaves the key: a second one ends it.
    from qylon_agent.crypto import keys

    left = "0badc0de-0000-4000-8000-000000000000"
    keys.Keys.load().data_key(keys.meeting_key_name(left), create=True)
    result = run_qylon_here("privacy", "forget", left, "--yes", "--json")
    assert result.code == 0 and result.json["data"]["key_destroyed"], result.stdout
    assert not keys.Keys.load().has(keys.meeting_key_name(left))
    result = run_qylon_here("config", "set", "privacy.key_source", "sometimes")
    assert result.code == 3
    for command in (
        "status",
        "rotate-key",
        "export-key",
        "import-key",
        "forget",
        "seal-existing",
        "retention",
    ):
        assert "Example: qylon" in run_qylon_here("privacy", command, "--help").stdout
