"""CLI start-up time: median wall time of `qylon --help` (target: under 0.25 s).

.venv/bin/python benchmarks/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    exe = shutil.which("qylon", path=str(Path(sys.executable).parent)) or "qylon"
    for argv in (["--help"], ["--version"], ["meeting", "--help"]):
        subprocess.run([exe, *argv], capture_output=True, check=True)  # warm the file cache
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([exe, *argv], capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        times.sort()
        print(
            f"qylon {' '.join(argv):<16} median {statistics.median(times):.3f} s  "
            f"p90 {times[int(len(times) * 0.9) - 1]:.3f} s  ({args.runs} runs)"
        )


if __name__ == "__main__":
    main()
