"""The transcription worker's own rules, in-process against the real server (SQLite):
a recording that is not audio fails its job with the agent's error, a job taken back
mid-transcription is dropped with nothing posted, and a key without the `transcribe`
scope stops the worker with exit 4."""

from __future__ import annotations

import threading
import time

import pytest
from qylon_agent.team_worker import Worker, pipeline_transcriber

from qylon_cli.client import ApiClient
from qylon_cli.errors import NotAllowed
from tests.server.harness import Api, new_org, running


@pytest.fixture
def backend(team_servers):
    return team_servers.backend("sqlite")


@pytest.fixture
def team(backend):
    with running(backend, transcription_lease_s=1.5) as server:
        org = new_org(backend)
        api = Api(server.url, backend)
        yield server, org, api
        api.http.close()


def submit(api, token, name: str, content: bytes) -> dict:
    r = api.post(
        "/v1/transcription-jobs",
        token,
        params={"filename": name},
        content=content,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    return r.json()


def run_until(worker: Worker, done, timeout: float = 60) -> dict:
    thread = threading.Thread(target=lambda: setattr(worker, "result", worker.run()))
    thread.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)
    worker.stop.set()
    thread.join(30)
    assert done(), "the worker did not finish in time"
    return worker.result


def test_a_recording_that_is_not_audio_fails_with_the_agents_error(team):
    server, org, api = team
    job = submit(api, org.token, "broken.wav", b"this is not a recording at all")
    key = api.make_user(org.token, "member", ["transcribe"])
    transcribe = pipeline_transcriber(model=None, device=None, diarize=False, warn=print)
    with ApiClient(server.url, key) as client:
        worker = Worker(client, name="w", concurrency=1, transcribe=transcribe, poll_s=0.2)

        def ended():
            return (
                api.get(f"/v1/transcription-jobs/{job['id']}", org.token).json()["status"]
                != "queued"
                and worker.tally.failed
            )

        result = run_until(worker, ended)
    final = api.get(f"/v1/transcription-jobs/{job['id']}", org.token).json()
    assert final["status"] == "failed" and "broken.wav" in final["error"]
    assert result["failed"] == 1 and result["jobs"][0]["retried"] is False


def test_a_job_taken_back_mid_transcription_is_dropped(team):
    server, org, api = team
    job = submit(api, org.token, "long.wav", b"audio")
    key = api.make_user(org.token, "member", ["transcribe"])
    started = threading.Event()

    def transcribe(path, job, progress):  # a long transcription, reporting its progress
        assert path.read_bytes() == b"audio"
        started.set()
        for n in range(300):
            progress(n, 300)  # raises once the server has taken the job back
            time.sleep(0.05)
        raise AssertionError("the worker did not stop")

    with ApiClient(server.url, key) as client:
        worker = Worker(client, name="w", concurrency=1, transcribe=transcribe, poll_s=0.2)
        thread = threading.Thread(target=worker.run)
        thread.start()
        assert started.wait(30)
        cancelled = api.post(f"/v1/transcription-jobs/{job['id']}/cancel", org.token)
        assert cancelled.status_code == 200
        deadline = time.monotonic() + 20
        while not worker.tally.dropped and time.monotonic() < deadline:
            time.sleep(0.1)
        worker.stop.set()
        thread.join(30)
    assert worker.tally.dropped == 1 and worker.tally.completed == 0
    assert api.get("/v1/meetings", org.token).json()["total"] == 0


def test_a_key_without_the_transcribe_scope_stops_the_worker(team):
    server, org, api = team
    key = api.make_user(org.token, "member", ["read", "write"])
    with ApiClient(server.url, key) as client:
        worker = Worker(client, name="w", concurrency=2, transcribe=None, poll_s=0.2)
        with pytest.raises(NotAllowed) as refused:
            worker.run()
    assert refused.value.exit_code == 4 and "transcribe" in refused.value.hint
