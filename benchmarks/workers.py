"""Throughput of transcription workers: recordings per minute and seconds of audio per
second, with one and with two `qylon agent worker` processes sharing one server's queue.

    .venv/bin/python benchmarks/workers.py [--recordings 8] [--workers 1,2] [--backend postgres]
        [--model tiny.en] [--device cpu] [--no-diarize]

Starts `qylon server start` on a fresh database (PostgreSQL: a throw-away database and a
non-superuser role on 127.0.0.1, dropped afterwards; or a SQLite file), makes an
organisation and a `transcribe` key, then for each worker count queues --recordings
recordings of real speech (../shared/data/audio: jfk.wav, 11 s, and
two_speakers_call.wav, 30 s, alternately; each round under new names), starts the
workers and waits until every job has completed. Two figures per round:
  - wall: from starting the workers to the last completion (start-up and model load
    included: what a batch costs);
  - steady: from the first claim to the last completion (server timestamps).
Everything runs on this machine, server and workers competing for its cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from datetime import datetime
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import database, free_port, initialised

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO.parent / "shared" / "data" / "audio"
SOURCES = [AUDIO / "jfk.wav", AUDIO / "two_speakers_call.wav"]


def seconds_of(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def start_server(kind: str, home: Path, stack: list) -> tuple[str, str]:
    """(url, owner token) of a fresh server."""
    made = database(kind, home)
    app_url, admin_url = made.__enter__()
    stack.append(made)
    env, token = initialised(home, app_url, admin_url, QYLON_TRANSCRIPTION_LEASE_S="30")
    q = [sys.executable, "-m", "qylon_cli"]
    port = free_port()
    server = subprocess.Popen(
        [*q, "server", "start", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.append(server)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx2.get(f"{url}/ready", timeout=1).status_code == 200:
                break
        except httpx2.TransportError:
            time.sleep(0.05)
    return url, token


def run_round(url: str, token: str, workers: int, args, home: Path) -> dict:
    api = httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    key = api.post("/v1/api-keys", json={"name": f"bench-{workers}", "scopes": ["transcribe"]})
    key.raise_for_status()
    audio_s, ids = 0.0, []
    for i in range(args.recordings):
        source = SOURCES[i % len(SOURCES)]
        made = api.post(
            "/v1/transcription-jobs",
            params={"filename": f"w{workers}-{i:02d}-{source.name}"},
            content=source.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        made.raise_for_status()
        ids.append(made.json()["id"])
        audio_s += seconds_of(source)
    env = {
        **os.environ,
        "QYLON_SERVER": url,
        "QYLON_TOKEN": key.json()["token"],
        "QYLON_HOME": str(home / f"worker-home-{workers}"),
    }
    flags = ["--model", args.model, "--device", args.device, "--poll", "0.2"]
    flags += ["--no-diarize"] if args.no_diarize else []
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "qylon_cli", "agent", "worker", "--name", f"bench-{n}", *flags],
            env={**env, "QYLON_HOME": f"{env['QYLON_HOME']}-{n}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(workers)
    ]
    try:
        while True:
            jobs = [api.get(f"/v1/transcription-jobs/{i}").json() for i in ids]
            if all(j["status"] in ("completed", "failed") for j in jobs):
                break
            time.sleep(0.25)
        wall = time.perf_counter() - started
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
    failed = [j for j in jobs if j["status"] != "completed"]
    first = min(datetime.fromisoformat(j["started_at"]) for j in jobs)
    last = max(datetime.fromisoformat(j["finished_at"]) for j in jobs)
    steady = (last - first).total_seconds()
    return {
        "workers": workers,
        "recordings": len(ids),
        "failed": len(failed),
        "audio_s": round(audio_s, 1),
        "wall_s": round(wall, 1),
        "steady_s": round(steady, 1),
        "per_min_wall": round(len(ids) / wall * 60, 1),
        "per_min_steady": round(len(ids) / steady * 60, 1),
        "audio_s_per_s_wall": round(audio_s / wall, 2),
        "audio_s_per_s_steady": round(audio_s / steady, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="Worker counts, comma-separated.")
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-diarize", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="qylon-bench-workers-"))
    stack: list = []
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}", file=sys.stderr)
    try:
        url, token = start_server(args.backend, home, stack)
        rows = [run_round(url, token, int(n), args, home) for n in args.workers.split(",")]
    finally:
        for item in reversed(stack):
            if isinstance(item, subprocess.Popen):
                item.terminate()
                item.wait(20)
            else:
                item.__exit__(None, None, None)
        shutil.rmtree(home, ignore_errors=True)
    head = "| workers | recordings | audio s | wall s | rec/min (wall) | audio s/s (wall) | steady s | rec/min (steady) | audio s/s (steady) | load avg |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['recordings']} ({r['failed']} failed) | {r['audio_s']} | "
            f"{r['wall_s']} | {r['per_min_wall']} | {r['audio_s_per_s_wall']} | {r['steady_s']} | "
            f"{r['per_min_steady']} | {r['audio_s_per_s_steady']} | {r['load_average'][0]} |"
        )


if __name__ == "__main__":
    main()
