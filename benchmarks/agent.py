"""The warm agent against the in-process command, and the agent's idle cost.

    .venv/bin/python benchmarks/agent.py [--runs 5]

Prints the median wall time from `qylon meeting transcribe jfk.wav --background` to a
stored transcript with a warm agent, beside `qylon meeting transcribe jfk.wav` in
process (which loads the model every time), then the idle agent's resident memory and
CPU use over 10 s.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JFK = REPO.parent / "shared" / "data" / "audio" / "jfk.wav"


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds used, resident MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS")
    )
    return cpu, rss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    qylon = str(Path(sys.executable).parent / "qylon")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "QYLON_HOME": home, "HF_HUB_OFFLINE": "1"}
        inproc = [
            timed([qylon, "meeting", "transcribe", str(JFK), "--json"], env)
            for _ in range(args.runs)
        ]
        started = json.loads(
            subprocess.run(
                [qylon, "agent", "start", "--json"], env=env, capture_output=True, check=True
            ).stdout
        )
        pid = started["data"]["pid"]
        try:
            while not json.loads(
                subprocess.run(
                    [qylon, "agent", "status", "--json"], env=env, capture_output=True, check=False
                ).stdout
            )["data"]["model_ready"]:
                time.sleep(0.2)
            warm = [
                timed([qylon, "meeting", "transcribe", str(JFK), "--background", "--json"], env)
                for _ in range(args.runs)
            ]
            time.sleep(2)
            cpu0, _ = proc_stat(pid)
            time.sleep(10)
            cpu1, rss = proc_stat(pid)
        finally:
            subprocess.run([qylon, "agent", "stop"], env=env, capture_output=True, check=False)
    print(f"jfk.wav (11 s), median of {args.runs}:")
    print(f"  in process (loads the model)      {statistics.median(inproc):.2f} s")
    print(f"  --background with a warm agent    {statistics.median(warm):.2f} s")
    print(f"idle agent: {rss:.0f} MB resident, {100 * (cpu1 - cpu0) / 10:.2f} % of one core")


if __name__ == "__main__":
    main()
