"""What `qylon meeting record` costs while it records, and how far the disk lags behind.

    .venv/bin/python benchmarks/record.py [--seconds 30]

Starts a private PulseAudio server (tests/agent/pulse.py; needs `make system-deps`),
records microphone + system audio (two channels) with `--no-transcribe` while
jfk.wav plays into the system sink, and prints:
  - CPU time of the recorder process per minute of audio (user + system), peak memory;
  - the largest gap, sampled every 50 ms, between the wall clock and the audio already
    in the file (what a SIGKILL at that moment would lose; the promise is ≤ 1 s);
  - the time from SIGINT to the process exiting with a finalised file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.agent.pulse import PulseServer

JFK = REPO.parent / "shared" / "data" / "audio" / "jfk.wav"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    server = PulseServer().start()
    home = Path(tempfile.mkdtemp(prefix="qylon-bench-record-"))
    env = {**server.env, "QYLON_HOME": str(home), "NO_COLOR": "1"}
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qylon_cli",
                "meeting",
                "record",
                "--device",
                "mic",
                "--no-transcribe",
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        manifest = None
        while manifest is None:
            for path in (home / "recordings").glob("*/recording.json"):
                meta = json.loads(path.read_text())
                manifest = meta if meta.get("started_at") else None
            time.sleep(0.02)
        audio = home / "recordings" / manifest["id"] / "audio.wav"
        bytes_per_s = manifest["rate"] * manifest["channels"] * 2
        worst, end, player = 0.0, time.time() + args.seconds, None
        while time.time() < end:
            if player is None or player.poll() is not None:
                player = server.play(JFK)
            on_disk = (audio.stat().st_size - 44) / bytes_per_s
            worst = max(worst, time.time() - manifest["started_at"] - on_disk)
            time.sleep(0.05)
        player.wait()
        stop = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stopping = time.monotonic() - stop
        out = proc.stdout.read()
        rec = json.loads(out)["data"]["recording"]
        cpu = usage.ru_utime + usage.ru_stime
        per_min = cpu / rec["duration_s"] * 60
        print(
            f"audio recorded           {rec['duration_s']:.1f} s, {rec['channels']} channels at {rec['rate']} Hz"
        )
        print(
            f"recorder CPU             {cpu:.2f} s total (start-up included), {per_min:.2f} s per minute of audio"
        )
        print(f"recorder peak memory     {usage.ru_maxrss / 1024:.0f} MB")
        print(f"largest disk lag         {worst:.2f} s (what a SIGKILL could lose)")
        print(f"SIGINT to finalised      {stopping:.2f} s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
