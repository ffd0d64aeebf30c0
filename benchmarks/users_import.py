"""User import: wall time and peak memory of `qylon users validate` on a generated file, and
of `qylon users import` (dry run, apply, re-run) against a real server on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/users_import.py [--rows 100000] [--runs 3] [--backends sqlite,postgres]
    .venv/bin/python benchmarks/users_import.py --backends none     # validation only

Targets (issue 7, on the 2-core development machine): dry run of 100,000 rows within
10 s, CLI peak memory under 300 MB. The file has every field Qylon reads (managers,
groups, start dates in three formats, phone numbers in several countries and styles,
custom attributes), so each row exercises every check.

Against the server (targets: dry run 10 s, apply 60 s, re-run with no change 20 s, CLI
peak memory 300 MB): the server runs in its own process (uvicorn, one worker) on a
fresh SQLite file or a fresh PostgreSQL database (127.0.0.1:5432, dropped afterwards).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST = ["Zoë", "José", "Léa", "François", "Chiara", "Ann", "Bjørn", "Inès", "Tomás", "Aoife"]
LAST = [
    "Müller",
    "Núñez",
    "Ångström",
    "Lefèvre",
    "D'Amico",
    "Lee",
    "Sørensen",
    "Belkacem",
    "Novák",
    "O'Brien",
]
PHONES = ["+44 7700 9{:05d}", "+1 202 555 {:04d}", "+33 6 12 {:06d}", "+49 30 9018{:04d}"]
DATES = ["2026-{m:02d}-{d:02d}", "{d:02d}.{m:02d}.2026", "2026/{m:02d}/{d:02d}"]


def generate(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(
            [
                "Email",
                "First Name",
                "Last Name",
                "Role",
                "Team",
                "Groups",
                "Manager Email",
                "Job Title",
                "Department",
                "Office",
                "Start Date",
                "Mobile Phone",
                "Status",
                "attr:employee_id",
            ]
        )
        for i in range(rows):
            manager = f"user{i // 10}@example.com" if i else ""
            role = "owner" if i == 0 else ("manager" if i % 10 == 0 else "member")
            phone = PHONES[i % 4].format(i % 10_000)
            start = DATES[i % 3].format(m=i % 12 + 1, d=i % 28 + 1)
            out.writerow(
                [
                    f"user{i}@example.com",
                    FIRST[i % 10],
                    f"{LAST[i % 10]}{i}",
                    role,
                    f"Team {i % 50}",
                    "consulting;emea" if i % 2 else "consulting",
                    manager,
                    "Consultant",
                    ["Sales", "Engineering", "Operations"][i % 3],
                    "Paris",
                    start,
                    phone,
                    "active" if i % 20 else "suspended",
                    f"E{i:07d}",
                ]
            )


def run(argv: list[str]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, peak resident MB and exit code of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return (
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        os.waitstatus_to_exitcode(status),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="none, or a comma list of sqlite,postgres"
    )
    args = parser.parse_args()
    exe = shutil.which("qylon", path=str(Path(sys.executable).parent)) or "qylon"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "users.csv"
        generate(path, args.rows)
        print(f"file: {args.rows} rows, {path.stat().st_size / 1e6:.1f} MB")
        for label, extra in (
            ("dry run", []),
            ("dry run + report", ["--report", str(Path(tmp) / "r.csv")]),
        ):
            walls, cpus, peaks = [], [], []
            for _ in range(args.runs):
                wall, cpu, peak, code = run([exe, "users", "validate", str(path), "--json", *extra])
                if code != 0:
                    sys.exit(f"qylon users validate exited {code}")
                walls.append(wall)
                cpus.append(cpu)
                peaks.append(peak)
            wall = statistics.median(walls)
            print(
                f"{label:<18} wall {wall:6.2f} s  cpu {statistics.median(cpus):6.2f} s  "
                f"({args.rows / wall:,.0f} rows/s)  peak RSS {max(peaks):.0f} MB  (median of {args.runs})"
            )
        for backend in [b for b in args.backends.split(",") if b and b != "none"]:
            against_server(exe, path, backend, args.rows, Path(tmp))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database(backend: str, tmp: Path):
    """(url, cleanup) for a fresh, migrated database."""
    import secrets

    from qylon_server import migrate

    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'bench-server.db'}"
        migrate.upgrade(url)
        return url, lambda: None
    import psycopg

    name = f"qylon_bench_{secrets.token_hex(4)}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    migrate.upgrade(url)

    def drop():
        with psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            conn.execute(f"DROP DATABASE IF EXISTS {name}")

    return url, drop


def against_server(exe: str, path: Path, backend: str, rows: int, tmp: Path) -> None:
    import httpx2
    from qylon_server.db import Database
    from qylon_server.orgs import create_org

    secret = "bench-secret-" + "x" * 20
    url, drop = database(backend, tmp)
    db = Database(url)
    done = create_org(
        db, name="Bench", admin_email="admin@bench.example", pepper=secret.encode(), allow_more=True
    )
    db.dispose()
    port = free_port()
    env = {
        **os.environ,
        "QYLON_DATABASE_URL": url,
        "QYLON_SECRET_KEY": secret,
        "QYLON_RATE_LIMIT": "1000000/minute",
        "QYLON_ENVIRONMENT": "development",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "qylon_server.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                httpx2.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx2.TransportError:
                time.sleep(0.05)
        os.environ.update(
            {
                "QYLON_SERVER": f"http://127.0.0.1:{port}",
                "QYLON_TOKEN": done.token,
                "QYLON_HOME": str(tmp / "home"),
            }
        )
        for label, extra, target in (
            ("dry run", ["--dry-run"], 10),
            ("apply", [], 60),
            ("re-run", [], 20),
        ):
            wall, cpu, peak, code = run(
                [exe, "users", "import", str(path), "--create-groups", "--json", *extra]
            )
            if code != 0:
                sys.exit(f"qylon users import {' '.join(extra)} exited {code} ({backend})")
            verdict = "ok" if wall <= target and peak < 300 else "OVER TARGET"
            print(
                f"{backend:<8} {label:<8} wall {wall:6.2f} s (target {target} s)  cli cpu {cpu:6.2f} s  "
                f"({rows / wall:,.0f} rows/s)  cli peak RSS {peak:.0f} MB  {verdict}",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(30)
        drop()


if __name__ == "__main__":
    main()
