"""Recording with encryption on (privacy.encrypt, docs/privacy.md): real audio through the
private PulseAudio server, as in test_record.py, whose helpers these tests share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from .test_record import normalise, qylon, record_then_kill


@pytest.mark.slow
def test_sigkill_with_encryption_keeps_all_but_the_last_second(pulse, qylon_home, jfk_wav):
    """privacy.encrypt: each flushed chunk is sealed on its own, so a SIGKILL loses no more
    than with the plain WAV, and nothing of the speech is readable on disk."""
    from qylon_agent.crypto import keys, stream

    from ..conftest import FILE_KEYRING

    env = {"QYLON_PRIVACY_ENCRYPT": "true", **FILE_KEYRING}
    meta, killed = record_then_kill(pulse, qylon_home, jfk_wav, "Sealed crash", env=env)
    assert meta["sealed"] is True
    sealed = qylon_home / "recordings" / meta["id"] / "audio.sealed"
    assert not sealed.with_name("audio.wav").exists()
    code, out, err = qylon(pulse, qylon_home, "recover", "--json", env=env)
    assert code == 0, err
    [done] = json.loads(out)["data"]
    assert done["recording"]["state"] == "done"
    info = stream.scan(sealed)
    assert killed - meta["started_at"] - 1.0 <= info.seconds <= killed - meta["started_at"] + 0.2
    code, out, _ = qylon(pulse, qylon_home, "show", done["meeting_id"], "--json", env=env)
    text = normalise(" ".join(s["text"] for s in json.loads(out)["data"]["segments"]))
    assert "my fellow americans ask not what your country" in text
    # The recorded samples and the words appear in no file under QYLON_HOME.
    key = keys.Keys.load().find_key(info.key_id)
    pcm = stream.read_pcm(sealed, key)[1]
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples) > 3000)
    assert len(loud) > 1000
    probes = [pcm[2 * i : 2 * i + 32] for i in loud[:: len(loud) // 40]]
    for path in qylon_home.rglob("*"):
        if path.is_file() and path.name != "test-keyring.json":
            data = path.read_bytes()
            assert b"fellow" not in data and b"americans" not in data, path
            assert not any(p in data for p in probes), path


@pytest.mark.slow
def test_first_recording_on_a_terminal_offers_encryption(pulse, qylon_home):
    """The first `meeting record` on a terminal asks once whether to encrypt; yes turns
    privacy.encrypt on (kept in the config) and this very recording is sealed."""
    import pty
    import select

    from ..conftest import FILE_KEYRING

    master, slave = pty.openpty()
    env = {**pulse.env, "QYLON_HOME": str(qylon_home), "NO_COLOR": "1", **FILE_KEYRING}
    env.pop("CI", None)
    args = ["record", "--device", "vsink.monitor", "--no-system-audio", "--max-duration", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "qylon_cli", "meeting", *args, "--no-transcribe"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen, answered = b"", False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                seen += os.read(master, 4096)
            except OSError:  # the command ended and closed the terminal
                break
        if not answered and b"Encrypt recordings" in seen:
            os.write(master, b"y\r")
            answered = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(master)
    text = seen.decode(errors="replace")
    assert answered and proc.returncode == 0, text
    assert "Encryption is on" in text
    assert "encrypt = true" in (qylon_home / "config.toml").read_text()
    [manifest] = (qylon_home / "recordings").glob("*/recording.json")
    assert json.loads(manifest.read_text())["sealed"] is True
    assert (manifest.parent / "audio.sealed").exists()
    # Asked once: the next recording goes ahead without asking.
    code, _, err = qylon(pulse, qylon_home, *args, "--no-transcribe", env=FILE_KEYRING)
    assert code == 0, err
    assert len(list((qylon_home / "recordings").glob("*/audio.sealed"))) == 2
