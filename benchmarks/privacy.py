"""What encryption at rest (privacy.encrypt) costs: plain and encrypted side by side.

    .venv/bin/python benchmarks/privacy.py [--minutes 10] [--meetings 300] [--json]

- Recording: the recorder's own writers (WavWriter, and SealedWriter sealing every
  0.1 s chunk with AES-256-GCM), two channels at 48 kHz, fsync'ed every second as
  when recording: CPU per minute of audio and the size on disk.
- Transcription: reading the recording for the model (``speech.audio.decode``: the plain
  WAV, or the sealed stream decrypted in memory), and one whole transcription of
  two_speakers_call.wav (tiny.en, no diarization) from each.
- Search: a store of N meetings made of the real transcripts' sentences, plain SQLite and
  SQLCipher: opening the store, storing a meeting, a full-text search (median of 50), and
  a whole `qylon meeting search` process (start-up, key from the keyring, the query).
- Keys: unlocking with a passphrase (scrypt), rotate-key with N meeting keys, and forget
  (which re-keys the whole store).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
AUDIO = REPO.parent / "shared" / "data" / "audio"
CALL = AUDIO / "two_speakers_call.wav"


def fresh_home(encrypt: bool) -> Path:
    home = Path(tempfile.mkdtemp(prefix="qylon-bench-privacy-"))
    os.environ["QYLON_HOME"] = str(home)
    os.environ["QYLON_PRIVACY_ENCRYPT"] = "true" if encrypt else "false"
    os.environ["PYTHON_KEYRING_BACKEND"] = "tests.keyring_file.FileKeyring"
    from qylon_agent.crypto import keys

    keys._UNLOCKED.clear()
    return home


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def bench_recording(minutes: float) -> dict:
    import numpy as np
    from qylon_agent.recording import files

    rate, channels, block = 48000, 2, 4800
    rng = np.random.default_rng(1)
    chunk = (rng.standard_normal((block, channels)) * 3000).astype("<i2").tobytes()
    n = int(minutes * 60 * rate / block)
    out = {}
    for encrypt in (False, True):
        home = fresh_home(encrypt)
        rec = files.Recording.create(files.root(), title="bench")
        writer = rec.writer(rate, channels)
        start_cpu, start = cpu(), time.perf_counter()
        for _ in range(n):
            writer.write(chunk)
        writer.close()
        used = cpu() - start_cpu
        out["sealed" if encrypt else "plain"] = {
            "cpu_s_per_audio_minute": round(used / minutes, 3),
            "wall_s": round(time.perf_counter() - start, 2),
            "bytes": rec.audio.stat().st_size,
        }
        rec.unlock()
        del home
    out["size_overhead_pct"] = round(100 * (out["sealed"]["bytes"] / out["plain"]["bytes"] - 1), 2)
    return out


def _recording_of(path: Path, encrypt: bool) -> Path:
    from qylon_agent.recording import files

    fresh_home(encrypt)
    rec = files.Recording.create(files.root(), title="bench")
    with wave.open(str(path)) as fh:
        writer = rec.writer(fh.getframerate(), fh.getnchannels())
        while data := fh.readframes(fh.getframerate() // 10):
            writer.write(data)
        writer.close()
    rec.unlock()
    return rec.audio


def bench_transcription(model: str) -> dict:
    from qylon_agent import pipeline
    from qylon_agent.speech import audio
    from qylon_agent.speech import transcribe as stt

    out = {}
    for encrypt in (False, True):
        path = _recording_of(CALL, encrypt)
        times = []
        for _ in range(10):
            start = time.perf_counter()
            audio.decode(path)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        pipeline.transcribe_file(
            path, stt.Options(model=model), title="bench", diarization=None, extractor="offline"
        )
        whole = time.perf_counter() - start
        out["sealed" if encrypt else "plain"] = {
            "decode_ms_median": round(1000 * statistics.median(times), 1),
            "transcribe_s": round(whole, 2),
        }
    return out


def _sentences() -> list[str]:
    text = " ".join((AUDIO / f).read_text() for f in ("jfk.txt", "two_speakers_call.txt"))
    words = text.split()
    return [" ".join(words[i : i + 12]) for i in range(0, len(words) - 12, 3)]


def _id(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-000000000000"


def _meeting(i: int, sentences: list[str]):
    from qylon_cli.schemas import Meeting, Segment

    return Meeting(
        id=_id(i),
        title=f"Meeting {i}",
        client=f"Client {i % 20}",
        source="bench.wav",
        created_at="2026-01-01T00:00:00Z",
        duration_s=3000,
        language="en",
        model="tiny.en",
        segments=[
            Segment(
                start=j * 5.0,
                end=j * 5.0 + 5,
                speaker=f"SPEAKER_{j % 3}",
                text=sentences[(i * 7 + j) % len(sentences)] + f" item{i}x{j}",
            )
            for j in range(100)
        ],
    )


def bench_search(meetings: int) -> dict:
    from qylon_agent.store.database import Store

    sentences = _sentences()
    out = {}
    for encrypt in (False, True):
        home = fresh_home(encrypt)
        store = Store()
        start = time.perf_counter()
        for i in range(meetings):
            store.save_meeting(_meeting(i, sentences))
        fill = time.perf_counter() - start
        store.close()
        opens = []
        for _ in range(10):
            start = time.perf_counter()
            Store().close()
            opens.append(time.perf_counter() - start)
        store = Store()
        queries = ["americans", "country", "budget", "fellow americans", "ask*"]
        times = []
        for k in range(50):
            start = time.perf_counter()
            store.search(queries[k % len(queries)], limit=20)
            times.append(time.perf_counter() - start)
        store.close()
        cli = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "qylon_cli", "meeting", "search", "americans", "--json"],
                capture_output=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            cli.append(time.perf_counter() - start)
        out["sealed" if encrypt else "plain"] = {
            "cli_search_s_median": round(statistics.median(cli), 2),
            "store_mb": round((home / "qylon.db").stat().st_size / 1e6, 1),
            "save_meeting_ms": round(1000 * fill / meetings, 1),
            "open_ms_median": round(1000 * statistics.median(opens), 1),
            "search_ms_median": round(1000 * statistics.median(times), 2),
        }
        if encrypt:
            out["keys"] = bench_keys(home, meetings)
    return out


def bench_keys(home: Path, meetings: int) -> dict:
    from qylon_agent.crypto import keys
    from qylon_agent.privacy import erase

    from qylon_cli import settings

    found = keys.Keys.load()
    for i in range(meetings):
        found.data_key(keys.meeting_key_name(_id(i)), create=True)
    start = time.perf_counter()
    found.rotate()
    rotate = time.perf_counter() - start
    start = time.perf_counter()
    erase.forget(_id(1), settings=settings.load(), local_only=True)
    forget = time.perf_counter() - start
    salt = os.urandom(16)
    start = time.perf_counter()
    keys._scrypt("a passphrase of some length", salt, keys.SCRYPT)
    scrypt = time.perf_counter() - start
    return {
        "rotate_key_s": round(rotate, 3),
        "data_keys": len(found.names()),
        "forget_s": round(forget, 2),
        "passphrase_unlock_ms": round(1000 * scrypt, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="audio written per writer")
    parser.add_argument("--meetings", type=int, default=300, help="meetings in the store")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "recording": bench_recording(args.minutes),
        "transcription": bench_transcription(args.model),
        "search": bench_search(args.meetings),
    }
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    r, t, s = result["recording"], result["transcription"], result["search"]
    print(
        f"load average before / after   {result['load_average']} / {result['load_average_after']}"
    )
    print(f"{'':36}{'plain':>12}{'encrypted':>12}")
    row = lambda name, a, b: print(f"{name:36}{a!s:>12}{b!s:>12}")
    row(
        "recording CPU s / audio minute",
        r["plain"]["cpu_s_per_audio_minute"],
        r["sealed"]["cpu_s_per_audio_minute"],
    )
    row(
        f"recording file MB ({args.minutes:g} min, 2ch 48k)",
        round(r["plain"]["bytes"] / 1e6, 2),
        round(r["sealed"]["bytes"] / 1e6, 2),
    )
    row(
        "read for the model, ms (30 s call)",
        t["plain"]["decode_ms_median"],
        t["sealed"]["decode_ms_median"],
    )
    row(
        f"transcribe 30 s call, s ({args.model})",
        t["plain"]["transcribe_s"],
        t["sealed"]["transcribe_s"],
    )
    row(f"store MB ({args.meetings} meetings)", s["plain"]["store_mb"], s["sealed"]["store_mb"])
    row(
        "store a meeting (100 segments), ms",
        s["plain"]["save_meeting_ms"],
        s["sealed"]["save_meeting_ms"],
    )
    row("open the store, ms", s["plain"]["open_ms_median"], s["sealed"]["open_ms_median"])
    row(
        "full-text search, ms (median)",
        s["plain"]["search_ms_median"],
        s["sealed"]["search_ms_median"],
    )
    row(
        "`qylon meeting search` process, s",
        s["plain"]["cli_search_s_median"],
        s["sealed"]["cli_search_s_median"],
    )
    k = s["keys"]
    print(f"rotate-key ({k['data_keys']} data keys)      {k['rotate_key_s']} s")
    print(f"forget (re-keys the {s['sealed']['store_mb']} MB store)   {k['forget_s']} s")
    print(f"passphrase unlock (scrypt n=2^15)   {k['passphrase_unlock_ms']} ms")


if __name__ == "__main__":
    main()
