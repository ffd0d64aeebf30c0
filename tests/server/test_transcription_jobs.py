"""Transcription jobs over the real API, on SQLite and PostgreSQL (as the non-superuser
role under row-level security): submission, the `transcribe` scope, leases that lapse
and are taken over, late completions refused, one meeting per job, the limits per
worker and across workers, tenancy. No speech here (tests/e2e/test_workers.py runs
real workers on real recordings)."""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from urllib.parse import unquote

import pytest

from .harness import Api, new_org, running

SHORT_LEASE_S = 2.0  # the tests of lapsing leases (short, yet longer than a slow request)
LONG_LEASE_S = 120.0  # the others: no lease lapses during them, however loaded the machine
AUDIO = b"RIFF\x00\x00\x00\x00WAVEfmt \x00\x01 not really audio, with NUL bytes"


@contextmanager
def team_server(backend, lease_s: float):
    """A server of its own with small limits."""
    with running(
        backend,
        transcription_lease_s=lease_s,
        transcription_concurrency=3,
        transcription_worker_concurrency=2,
        transcription_max_attempts=3,
        max_audio_bytes=4096,
    ) as server:
        client = Api(server.url, backend)
        yield client
        client.http.close()


@pytest.fixture
def jobs_api(backend):
    with team_server(backend, LONG_LEASE_S) as api:
        yield api


@pytest.fixture
def short_api(backend):
    with team_server(backend, SHORT_LEASE_S) as api:
        yield api


def submit(api, token, name="call.wav", content=AUDIO, key=None, **params):
    headers = {"Content-Type": "application/octet-stream"}
    if key:
        headers["Idempotency-Key"] = key
    return api.post(
        "/v1/transcription-jobs",
        token,
        params={"filename": name, **params},
        content=content,
        headers=headers,
    )


def claim(api, token, worker, concurrency=1):
    r = api.post(
        "/v1/transcription-jobs/claim", token, json={"worker": worker, "concurrency": concurrency}
    )
    assert r.status_code == 200, r.text
    return r.json()


def meeting_for(job: dict, text="Hello there.") -> dict:
    return {
        "id": str(uuid.uuid4()),  # the server stores it under the job's meeting id
        "title": job["title"] or job["filename"],
        "client": job["client"],
        "created_at": "2026-12-01T10:00:00Z",
        "duration_s": 3.0,
        "segments": [{"start": 0.0, "end": 1.5, "text": text}],
    }


def worker_key(api, org) -> str:
    return api.make_user(org.token, "member", ["transcribe"])


def test_submit_is_idempotent_and_listed(jobs_api, org):
    made = submit(jobs_api, org.token, title="Kick-off", client="Acme", key="rec-0001-abc")
    assert made.status_code == 201, made.text
    job = made.json()
    assert job["status"] == "queued" and job["size_bytes"] == len(AUDIO)
    assert (job["title"], job["client"], job["filename"]) == ("Kick-off", "Acme", "call.wav")
    again = submit(jobs_api, org.token, title="Kick-off", key="rec-0001-abc")
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    other = submit(jobs_api, org.token, content=AUDIO + b"!", key="rec-0001-abc")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    listed = jobs_api.get("/v1/transcription-jobs?status=queued", org.token).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]] and listed["total"] == 1
    assert jobs_api.get(f"/v1/transcription-jobs/{job['id']}", org.token).json() == job


def test_limits_on_the_body(jobs_api, org):
    assert submit(jobs_api, org.token, content=b"").status_code == 422
    big = submit(jobs_api, org.token, content=b"\x00" * 5000)
    assert big.status_code == 413
    assert submit(jobs_api, org.token, name="").status_code == 422


def test_the_transcribe_scope_works_jobs_and_nothing_else(jobs_api, org):
    job = submit(jobs_api, org.token).json()
    worker = worker_key(jobs_api, org)
    assert jobs_api.get("/v1/meetings", worker).status_code == 403
    assert jobs_api.get("/v1/transcription-jobs", worker).status_code == 403
    assert submit(jobs_api, worker).status_code == 403
    writer = jobs_api.make_user(org.token, "member", ["read", "write"])
    r = jobs_api.post("/v1/transcription-jobs/claim", writer, json={"worker": "w"})
    assert r.status_code == 403
    got = claim(jobs_api, worker, "w1")
    assert got["job"]["id"] == job["id"] and got["lease_s"] == LONG_LEASE_S


def test_a_lapsed_lease_is_taken_over_and_the_late_completion_refused(short_api, org):
    job = submit(short_api, org.token, title="Weekly").json()
    key = worker_key(short_api, org)
    first = claim(short_api, key, "worker-a")
    assert first["job"]["id"] == job["id"] and first["job"]["attempts"] == 1
    assert claim(short_api, key, "worker-b")["job"] is None  # leased: no one else takes it
    base = f"/v1/transcription-jobs/{job['id']}"
    audio = short_api.get(f"{base}/audio", key, params={"lease": first["lease"]})
    assert audio.status_code == 200 and audio.content == AUDIO
    assert short_api.post(f"{base}/renew", key, json={"lease": first["lease"]}).status_code == 200
    time.sleep(SHORT_LEASE_S + 0.3)  # worker-a goes silent
    second = claim(short_api, key, "worker-b")
    assert second["job"]["id"] == job["id"] and second["job"]["attempts"] == 2
    assert second["lease"] != first["lease"]
    for r in (
        short_api.post(f"{base}/renew", key, json={"lease": first["lease"]}),
        short_api.get(f"{base}/audio", key, params={"lease": first["lease"]}),
        short_api.post(
            f"{base}/complete", key, json={"lease": first["lease"], "meeting": meeting_for(job)}
        ),
    ):
        assert r.status_code == 409 and r.json()["error"]["code"] == "lease_lost", r.text
    done = short_api.post(
        f"{base}/complete", key, json={"lease": second["lease"], "meeting": meeting_for(job)}
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed" and done.json()["worker"] == "worker-b"
    again = short_api.post(
        f"{base}/complete", key, json={"lease": second["lease"], "meeting": meeting_for(job)}
    )
    assert again.status_code == 200  # the same completion again changes nothing
    late = short_api.post(
        f"{base}/complete",
        key,
        json={"lease": first["lease"], "meeting": meeting_for(job, "Other words.")},
    )
    assert late.status_code == 409
    meetings = short_api.get("/v1/meetings", org.token).json()
    assert [m["id"] for m in meetings["items"]] == [job["meeting_id"]]
    stored = short_api.get(f"/v1/meetings/{job['meeting_id']}", org.token).json()
    assert stored["title"] == "Weekly" and stored["segments"][0]["text"] == "Hello there."
    assert short_api.get(f"{base}/audio", key, params={"lease": second["lease"]}).status_code == 409
    actions = [
        e["action"]
        for e in short_api.get("/v1/audit-events?limit=200", org.token).json()["items"]
        if e["target_id"] in (job["id"], job["meeting_id"])
    ]
    assert sorted(actions) == sorted(
        [
            "transcription_job.submit",
            "transcription_job.claim",
            "transcription_job.claim",
            "transcription_job.complete",
            "meeting.create",
        ]
    )


def test_a_lapsed_completion_is_kept_while_no_one_took_the_job(short_api, org):
    job = submit(short_api, org.token).json()
    key = worker_key(short_api, org)
    lease = claim(short_api, key, "slow")["lease"]
    time.sleep(SHORT_LEASE_S + 0.3)
    done = short_api.post(
        f"/v1/transcription-jobs/{job['id']}/complete",
        key,
        json={"lease": lease, "meeting": meeting_for(job)},
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert claim(short_api, key, "other")["job"] is None


def test_limits_per_worker_and_across_workers(jobs_api, org):
    for n in range(5):
        submit(jobs_api, org.token, name=f"r{n}.wav")
    key = worker_key(jobs_api, org)
    a = [claim(jobs_api, key, "a", concurrency=5) for _ in range(3)]
    assert [bool(c["job"]) for c in a] == [True, True, False]  # at most 2 per worker
    assert a[2]["retry_after_s"] > 0
    b = [claim(jobs_api, key, "b", concurrency=5) for _ in range(2)]
    assert [bool(c["job"]) for c in b] == [True, False]  # at most 3 running in all
    assert claim(jobs_api, key, "c")["job"] is None
    taken = [c["job"]["filename"] for c in a + b if c["job"]]
    assert taken == ["r0.wav", "r1.wav", "r2.wav"]  # oldest first


def test_a_job_that_loses_its_workers_too_often_fails(short_api, org):
    job = submit(short_api, org.token).json()
    key = worker_key(short_api, org)
    for n in range(3):
        got = claim(short_api, key, f"doomed-{n}")
        assert got["job"]["attempts"] == n + 1
        time.sleep(SHORT_LEASE_S + 0.2)
    assert claim(short_api, key, "next")["job"] is None
    failed = short_api.get(f"/v1/transcription-jobs/{job['id']}", org.token).json()
    assert failed["status"] == "failed" and "lost 3 times" in failed["error"]


def test_fail_retry_and_cancel(jobs_api, org):
    job = submit(jobs_api, org.token).json()
    key = worker_key(jobs_api, org)
    base = f"/v1/transcription-jobs/{job['id']}"
    lease = claim(jobs_api, key, "w")["lease"]
    back = jobs_api.post(
        f"{base}/fail", key, json={"lease": lease, "error": "no GPU", "retry": True}
    )
    assert back.status_code == 200 and back.json()["status"] == "queued"
    lease = claim(jobs_api, key, "w")["lease"]
    member = jobs_api.make_user(org.token, "member", ["read", "write"])
    refused = jobs_api.post(f"{base}/cancel", member)
    assert refused.status_code == 403
    cancelled = jobs_api.post(f"{base}/cancel", org.token)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    stop = jobs_api.post(f"{base}/renew", key, json={"lease": lease})
    assert stop.status_code == 409 and stop.json()["error"]["code"] == "job_ended"
    assert jobs_api.post(f"{base}/cancel", org.token).status_code == 409
    bad = submit(jobs_api, org.token).json()
    lease = claim(jobs_api, key, "w")["lease"]
    gone = jobs_api.post(
        f"/v1/transcription-jobs/{bad['id']}/fail",
        key,
        json={"lease": lease, "error": "no speech found"},
    )
    assert gone.json()["status"] == "failed" and gone.json()["error"] == "no speech found"


def test_jobs_stay_in_their_organisation(jobs_api, org, backend):
    job = submit(jobs_api, org.token).json()
    other = new_org(backend)
    stranger = worker_key(jobs_api, other)
    assert claim(jobs_api, stranger, "elsewhere")["job"] is None
    assert jobs_api.get(f"/v1/transcription-jobs/{job['id']}", other.token).status_code == 404
    assert jobs_api.get("/v1/transcription-jobs", other.token).json()["total"] == 0
    mine = claim(jobs_api, worker_key(jobs_api, org), "home")
    r = jobs_api.get(
        f"/v1/transcription-jobs/{job['id']}/audio", stranger, params={"lease": mine["lease"]}
    )
    assert r.status_code == 404


def test_a_long_meeting_is_posted_back_whole(jobs_api, org):
    """A completion carries the whole transcript: an upload route's limit, not 256 KiB."""
    job = submit(jobs_api, org.token).json()
    key = worker_key(jobs_api, org)
    lease = claim(jobs_api, key, "w")["lease"]
    meeting = meeting_for(job)
    meeting["segments"] = [
        {"start": n * 2.0, "end": n * 2.0 + 1.5, "text": f"Sentence number {n} of a long meeting."}
        for n in range(4000)
    ]
    done = jobs_api.post(
        f"/v1/transcription-jobs/{job['id']}/complete",
        key,
        json={"lease": lease, "meeting": meeting},
    )
    assert len(done.request.content) > 256 * 1024
    assert done.status_code == 200, done.text
    stored = jobs_api.get(f"/v1/meetings/{job['meeting_id']}", org.token).json()
    assert len(stored["segments"]) == 4000


def test_a_member_makes_a_workers_key_with_their_write_key(jobs_api, org):
    member = jobs_api.make_user(org.token, "member", ["read", "write"])
    made = jobs_api.post("/v1/api-keys", member, json={"name": "gpu", "scopes": ["transcribe"]})
    assert made.status_code == 201, made.text
    reader = jobs_api.make_user(org.token, "member", ["read"])
    refused = jobs_api.post("/v1/api-keys", reader, json={"name": "gpu", "scopes": ["transcribe"]})
    assert refused.status_code == 403
    assert claim(jobs_api, made.json()["token"], "gpu")["job"] is None


def test_a_file_name_beyond_latin_1_reaches_the_worker(jobs_api, org):
    name = "Réunion 会議 \U0005acb4.wav"  # the last: what the API fuzzer sent once (500 before)
    job = submit(jobs_api, org.token, name=name).json()
    key = worker_key(jobs_api, org)
    held = claim(jobs_api, key, "w1")
    assert held["job"]["id"] == job["id"]
    got = jobs_api.get(f"/v1/transcription-jobs/{job['id']}/audio?lease={held['lease']}", key)
    assert got.status_code == 200 and got.content == AUDIO
    assert unquote(got.headers["x-filename"]) == name == held["job"]["filename"]
