"""Transcription beyond one machine, end to end: one server, two `qylon agent worker`
processes and 20 recordings of real speech queued with `qylon jobs submit`. One worker
is SIGKILLed while it holds a job; when that job's lease lapses the other takes it, and
every recording ends up as exactly one meeting (on SQLite and on PostgreSQL as the
non-superuser role under row-level security)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from tests.server.harness import Api, new_org, running

RECORDINGS = 20
LEASE_S = 3.0


def clips(jfk: Path, folder: Path, n: int) -> list[Path]:
    """``n`` different recordings of real speech: 3.2 s of jfk.wav ("... what your
    country can do for you ..."), each with its own length of silence after."""
    with wave.open(str(jfk)) as source:
        params = source.getparams()
        frames = source.readframes(params.nframes)
    width = params.sampwidth * params.nchannels
    speech = frames[int(5.4 * params.framerate) * width : int(8.6 * params.framerate) * width]
    paths = []
    for i in range(n):
        path = folder / f"clip-{i:02d}.wav"
        with wave.open(str(path), "wb") as out:
            out.setparams(params)
            out.writeframes(speech + b"\x00\x00" * int(params.framerate * 0.05 * (i + 1)))
        paths.append(path)
    return paths


def start_worker(name: str, env: dict, home: Path, log: Path) -> subprocess.Popen:
    args = ["agent", "worker", "--name", name, "--poll", "0.2", "--no-diarize", "--json"]
    return subprocess.Popen(
        [sys.executable, "-m", "qylon_cli", *args],
        # beam 1: the test is about the queue, not accuracy (tiny.en, about 1 CPU-s a job)
        env={
            **os.environ,
            **env,
            "QYLON_HOME": str(home),
            "NO_COLOR": "1",
            "QYLON_TRANSCRIBE_BEAM_SIZE": "1",
        },
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )


def wait_for(what: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def backend(team_servers):
    """PostgreSQL, where a team runs workers (issue 23's proof); the queue's SQL is the same
    on SQLite, where tests/server/test_transcription_jobs.py covers leases on both engines."""
    return team_servers.backend("postgres")


@pytest.mark.slow
def test_two_workers_one_killed_every_recording_one_meeting(backend, jfk_wav, tmp_path, qylon):
    with running(backend, transcription_lease_s=LEASE_S) as server:
        api = Api(server.url, backend)
        org = new_org(backend)
        owner = {"QYLON_SERVER": server.url, "QYLON_TOKEN": org.token}
        files = clips(jfk_wav, tmp_path, RECORDINGS)
        queued = qylon("jobs", "submit", *map(str, files), "--client", "Acme", "--json", env=owner)
        assert queued.code == 0, queued.stderr
        jobs = queued.json["data"]["items"]
        assert [j["status"] for j in jobs] == ["queued"] * RECORDINGS

        key = api.make_user(org.token, "member", ["transcribe"])
        worker_env = {"QYLON_SERVER": server.url, "QYLON_TOKEN": key}
        logs = {n: tmp_path / f"{n}.log" for n in ("doomed", "survivor")}
        doomed = start_worker("doomed", worker_env, tmp_path / "home-1", logs["doomed"])
        survivor = start_worker("survivor", worker_env, tmp_path / "home-2", logs["survivor"])
        try:

            def held_by_doomed():
                page = api.get("/v1/transcription-jobs?status=running", org.token).json()
                return [j for j in page["items"] if j["worker"] == "doomed"]

            held = wait_for("the doomed worker to hold a job", held_by_doomed, 120)
            os.kill(doomed.pid, signal.SIGKILL)  # mid-job: no goodbye, the lease must lapse
            doomed.wait(10)
            killed = held[0]["id"]

            def all_ended():
                page = api.get("/v1/transcription-jobs?limit=200", org.token).json()
                ended = [j for j in page["items"] if j["status"] in ("completed", "failed")]
                return page["items"] if len(ended) == RECORDINGS else None

            final = wait_for("every job to end", all_ended, 300)
            survivor.send_signal(signal.SIGTERM)
            out, _ = survivor.communicate(timeout=60)
        finally:
            for proc in (doomed, survivor):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
        log = logs["survivor"].read_text()
        assert survivor.returncode == 0, log
        summary = json.loads(out)["data"]
        assert summary["worker"] == "survivor" and summary["failed"] == 0, log

        assert [j["status"] for j in final] == ["completed"] * RECORDINGS, final
        by_id = {j["id"]: j for j in final}
        assert by_id[killed]["worker"] == "survivor" and by_id[killed]["attempts"] >= 2
        meetings = api.get("/v1/meetings?limit=200", org.token).json()
        assert meetings["total"] == RECORDINGS
        assert {m["id"] for m in meetings["items"]} == {j["meeting_id"] for j in final}
        for job in final[:3] + [by_id[killed]]:
            meeting = api.get(f"/v1/meetings/{job['meeting_id']}", org.token).json()
            text = " ".join(s["text"] for s in meeting["segments"]).lower()
            assert "your country" in text, text
            assert meeting["client"] == "Acme" and meeting["source"] == job["filename"]

        again = qylon("jobs", "submit", str(files[0]), "--json", env=owner)  # a retried upload
        assert again.code == 0 and again.json["data"]["items"][0]["id"] == jobs[0]["id"]
        listed = qylon("jobs", "list", "--status", "completed", "--json", env=owner)
        assert listed.code == 0 and listed.json["data"]["total"] == RECORDINGS
