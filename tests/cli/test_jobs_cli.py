"""`qylon jobs submit|list|show|cancel` against the real team server (SQLite and
PostgreSQL): the commands' JSON, their exit codes, and idempotent submission. In-process
(tests/agent/test_team_workers.py runs them as real processes)."""

from __future__ import annotations

import pytest

from tests.conftest import credentials


@pytest.fixture
def qylon(qylon_here):
    return qylon_here


@pytest.fixture
def env(server, org):
    return credentials(server.url, org.token)


def test_submit_show_list_cancel(qylon, env, jfk_wav, tmp_path):
    made = qylon("jobs", "submit", str(jfk_wav), "--title", "Inaugural", "--json", env=env)
    assert made.code == 0, made.stderr
    job = made.json["data"]["items"][0]
    assert (job["status"], job["title"], job["filename"]) == ("queued", "Inaugural", "jfk.wav")
    assert "Queued jfk.wav" in made.stderr

    again = qylon("jobs", "submit", str(jfk_wav), "--title", "Inaugural", "--json", env=env)
    assert again.json["data"]["items"][0]["id"] == job["id"]  # the same file: the same job

    shown = qylon("jobs", "show", job["id"], "--json", env=env)
    assert shown.code == 0 and shown.json["data"]["meeting_id"] == job["meeting_id"]
    human = qylon("jobs", "show", job["id"], env=env)
    assert "jfk.wav" in human.stdout and "queued" in human.stdout

    listed = qylon("jobs", "list", "--status", "queued", "--json", env=env)
    assert [j["id"] for j in listed.json["data"]["items"]] == [job["id"]]

    cancelled = qylon("jobs", "cancel", job["id"], "--json", env=env)
    assert cancelled.code == 0 and cancelled.json["data"]["status"] == "cancelled"
    twice = qylon("jobs", "cancel", job["id"], "--json", env=env)
    assert twice.code == 3 and twice.json["error"]["code"] == "job_ended"


def test_bad_input_names_the_file_and_queues_nothing(qylon, env, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    r = qylon("jobs", "submit", str(empty), "--json", env=env)
    assert r.code == 3 and "empty.wav" in r.json["error"]["message"]
    missing = qylon("jobs", "submit", str(tmp_path / "nope.wav"), env=env)
    assert missing.code == 2 and "nope.wav" in missing.stderr
    two = qylon("jobs", "submit", str(empty), str(empty), "--title", "T", env=env)
    assert two.code == 2
    assert qylon("jobs", "list", "--json", env=env).json["data"]["total"] == 0
    unknown = qylon("jobs", "show", "0f0f0f0f-0000-4000-8000-000000000000", "--json", env=env)
    assert unknown.code == 5


def test_wait_gives_up_when_no_worker_runs(qylon, env, jfk_wav):
    r = qylon("jobs", "submit", str(jfk_wav), "--wait", "--timeout", "1", "--json", env=env)
    assert r.code == 6 and r.json["error"]["code"] == "timeout"
    assert "qylon agent worker" in r.json["error"]["hint"]
