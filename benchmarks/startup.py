"""What one `qylon` process costs before and while doing something small: median wall time
and CPU time of whole processes, as a CI script calling Qylon hundreds of times sees them.

    .venv/bin/python benchmarks/startup.py [--runs 20] [--meetings 1000]

Targets: `qylon --help` median under 0.25 s, `qylon meeting list --json` on a store of
1,000 meetings (40 segments and 3 speakers each) under 0.4 s. Bytecode is written on the
warm-up run, as it is on a user's first run (PYTHONDONTWRITEBYTECODE is dropped).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def seed(home: Path, meetings: int) -> None:
    """A store of ``meetings`` meetings, written through the store as transcribe writes them."""
    from qylon_agent.store.database import Store

    from qylon_cli.schemas import Meeting, Segment, Speaker

    store = Store(home / "qylon.db")
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    with store.db.atomic():
        for i in range(meetings):
            segments = [
                Segment(
                    start=j * 6.0,
                    end=j * 6.0 + 5.5,
                    speaker=f"SPEAKER_{j % 3 + 1}",
                    text=f"Item {j} of meeting {i}: the budget review and the rollout plan.",
                )
                for j in range(40)
            ]
            store.save_meeting(
                Meeting(
                    id=f"{i:08x}-0000-4000-8000-000000000000",
                    title=f"Weekly sync {i}",
                    client=f"Client {i % 25}",
                    created_at=start + timedelta(hours=i),
                    duration_s=240.0,
                    segments=segments,
                    speakers=[Speaker(id=f"SPEAKER_{k}") for k in (1, 2, 3)],
                )
            )
    store.close()


def measure(argv: list[str], runs: int, env: dict) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + system, the child's) of ``runs`` whole processes."""
    subprocess.run(argv, capture_output=True, check=True, env=env)  # warm: file cache, bytecode
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--meetings", type=int, default=1000)
    args = parser.parse_args()
    exe = shutil.which("qylon", path=str(Path(sys.executable).parent)) or "qylon"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        seed(home, args.meetings)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["QYLON_HOME"] = str(home)
        print(f"load average {os.getloadavg()[0]:.2f}; {args.runs} runs each")
        for argv in (
            ["--help"],
            ["--version"],
            ["meeting", "--help"],
            ["meeting", "list", "--json"],
        ):
            walls, cpus = measure([exe, *argv], args.runs, env)
            walls.sort()
            label = "qylon " + " ".join(argv)
            if argv[-2:] == ["list", "--json"]:
                label += f" ({args.meetings} meetings)"
            print(
                f"{label:<42} median {statistics.median(walls):.3f} s  "
                f"p90 {walls[int(len(walls) * 0.9) - 1]:.3f} s  "
                f"CPU {statistics.median(cpus):.3f} s"
            )


if __name__ == "__main__":
    main()
