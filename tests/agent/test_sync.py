"""`qylon sync` against a real server: idempotent, resumable, never duplicating a meeting.

The hard cases run the real server as a subprocess (`qylon server start`), kill it in
the middle of a sync and start it again, on SQLite and on PostgreSQL; and kill the
sync itself half-way and run it again.

The commands of the other tests run in-process (``run_qylon_here``: the same entry point,
environment, streams and exit codes, without an interpreter start per command);
test_unreachable_server_is_exit_6_and_keeps_the_outbox, test_bad_key_is_exit_4 and
test_not_logged_in_is_exit_4 run the real subprocess (``qylon_process``): the exit codes of
the real process. The kill tests start their own processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from qylon_agent.store.database import Store
from qylon_agent.sync.outbox import Outbox

from qylon_cli.schemas import ActionItem, Meeting, Segment, Speaker

from ..conftest import credentials, run_qylon_here
from ..server.harness import PEPPER, free_port, new_org, wait_healthy


@pytest.fixture
def qylon():
    """In-process; see the module docstring for the tests on the real subprocess."""
    return run_qylon_here


def make_meetings(n: int, *, client: str | None = "Acme", words: int = 20) -> list[Meeting]:
    store = Store()
    made = []
    base = datetime(2026, 11, 1, 9, tzinfo=UTC)
    for i in range(n):
        m = Meeting(
            id=str(uuid.uuid4()),
            title=f"Meeting {i:03d}",
            client=client,
            created_at=base + timedelta(hours=i),
            duration_s=600.0,
            language="en",
            model="tiny.en",
            speakers=[Speaker(id="SPEAKER_1", name="Ana", talk_time_s=300.0)],
            segments=[
                Segment(
                    start=j * 5.0,
                    end=j * 5.0 + 4.5,
                    speaker="SPEAKER_1",
                    text=" ".join(["word"] * words),
                )
                for j in range(40)
            ],
            action_items=[ActionItem(id=f"a{i}", owner="Ana", task=f"Follow up {i}")],
        )
        store.save_meeting(m)
        made.append(m)
    store.close()
    return made


def server_ids(url: str, token: str) -> list[str]:
    ids, offset = [], 0
    while True:
        page = httpx2.get(
            f"{url}/v1/meetings",
            params={"limit": 200, "offset": offset},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        ids += [m["id"] for m in page["items"]]
        offset += len(page["items"])
        if offset >= page["total"] or not page["items"]:
            return ids


@pytest.fixture
def backend(team_servers):
    """The agent's side does not depend on the server's engine: SQLite (the restart test runs on both)."""
    return team_servers.backend("sqlite")


def test_dry_run_push_repush_and_client_pull(qylon, server, org, signed_in):
    httpx2.post(
        f"{server.url}/v1/clients",
        json={"name": "Acme"},
        headers={"Authorization": f"Bearer {org.token}"},
    )
    meetings = make_meetings(3)
    dry = qylon("sync", "--dry-run", "--json")  # no server needed
    assert dry.code == 0 and [r["id"] for r in dry.json["data"]["pending"]] == [
        m.id for m in meetings
    ]
    first = qylon("sync", "--json", env=signed_in)
    assert first.code == 0, first.stdout + first.stderr
    assert first.json["data"] | {"pushed_ids": None} == {
        "pushed": 3,
        "unchanged": 0,
        "failed": [],
        "deleted": 0,
        "stale": [],
        "unlinked": [],
        "pending": 0,
        "clients": 1,
        "pushed_ids": None,
        "deleted_ids": [],
    }
    again = qylon("sync", "--json", env=signed_in).json["data"]
    assert again["pushed"] == 0 and again["pending"] == 0
    # Editing a meeting queues it again; the server updates it in place.
    store = Store()
    edited = meetings[0].model_copy(update={"title": "Kick-off (edited)"})
    store.save_meeting(edited)
    assert [r["id"] for r in Outbox(store).pending()] == [edited.id]
    assert qylon("sync", "--json", env=signed_in).json["data"]["pushed"] == 1
    assert sorted(server_ids(server.url, org.token)) == sorted(m.id for m in meetings)
    got = httpx2.get(
        f"{server.url}/v1/meetings/{edited.id}", headers={"Authorization": f"Bearer {org.token}"}
    ).json()
    assert got["title"] == "Kick-off (edited)" and len(got["segments"]) == 40
    # The client list is cached for offline completion of --client.
    assert Outbox(store).client_names("ac") == ["Acme"]
    from qylon_agent.cli.params import complete_client

    assert complete_client("A") == ["Acme"]


def test_unreachable_server_is_exit_6_and_keeps_the_outbox(qylon_process):
    qylon = qylon_process  # the real subprocess
    make_meetings(2)
    env = {
        **credentials(f"http://127.0.0.1:{free_port()}", "qyl_live_x_" + "y" * 30),
        "QYLON_SYNC_RETRIES": "2",
    }
    started = time.monotonic()
    result = qylon("sync", "--json", env=env)
    assert result.code == 6 and result.json["error"]["code"] == "unavailable"
    assert time.monotonic() - started < 60
    assert len(Outbox(Store()).pending()) == 2


def test_bad_key_is_exit_4(qylon_process, server):
    qylon = qylon_process  # the real subprocess
    make_meetings(1)
    result = qylon("sync", "--json", env=credentials(server.url, "qyl_live_x_" + "y" * 30))
    assert result.code == 4


def test_not_logged_in_is_exit_4(qylon_process):
    qylon = qylon_process  # the real subprocess
    make_meetings(1)
    result = qylon("sync", "--json")
    assert result.code == 4 and "qylon auth login" in result.json["error"]["hint"]


# -- killing things ---------------------------------------------------------------------


@contextmanager
def server_process(database_url: str, port: int, home):
    env = {
        **os.environ,
        "QYLON_HOME": str(home),
        "QYLON_SECRET_KEY": PEPPER,
        "QYLON_RATE_LIMIT": "100000/minute",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qylon_cli",
            "server",
            "start",
            "--port",
            str(port),
            "--database-url",
            database_url,
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def count_on_server(url, token) -> int:
    try:
        return httpx2.get(
            f"{url}/v1/meetings?limit=1", headers={"Authorization": f"Bearer {token}"}, timeout=5
        ).json()["total"]
    except httpx2.TransportError:
        return -1


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_server_killed_mid_sync_and_restarted(engine, tmp_path, qylon_home, team_servers):
    n = 120
    meetings = make_meetings(n, words=60)
    backend = team_servers.backend(engine)
    org = new_org(backend)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A generous retry budget (about 35 s): restarting the server on a loaded machine can be slow.
    env = {**os.environ, **credentials(url, org.token), "NO_COLOR": "1", "QYLON_SYNC_RETRIES": "12"}
    with server_process(backend.url, port, tmp_path / "srv-home") as first:
        sync = subprocess.Popen(
            [sys.executable, "-m", "qylon_cli", "sync", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: count_on_server(url, org.token) >= 15)
        first.send_signal(signal.SIGKILL)  # the server dies mid-sync
        first.wait(10)
        assert sync.poll() is None, "sync finished before the server was killed"
    time.sleep(1.0)
    with server_process(backend.url, port, tmp_path / "srv-home"):
        assert 0 < count_on_server(url, org.token) < n  # the kill really came mid-sync
        out, err = sync.communicate(timeout=120)
        assert sync.returncode == 0, out + err
        import json

        report = json.loads(out)["data"]
        assert report["pending"] == 0 and report["failed"] == []
        ids = server_ids(url, org.token)
    assert len(ids) == n and sorted(ids) == sorted(
        m.id for m in meetings
    )  # every meeting exactly once
    assert Outbox(Store()).pending() == []


@pytest.mark.slow
def test_sync_killed_mid_run_resumes_without_duplicates(
    tmp_path, qylon_home, server, org, signed_in
):
    n = 120
    meetings = make_meetings(n, words=60)
    env = {**os.environ, **signed_in}
    sync = subprocess.Popen(
        [sys.executable, "-m", "qylon_cli", "sync", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: count_on_server(server.url, org.token) >= 10)
    sync.send_signal(signal.SIGKILL)  # the agent crashes mid-sync
    sync.wait(10)
    left = len(Outbox(Store()).pending())
    assert 0 < left < n
    rerun = subprocess.run(
        [sys.executable, "-m", "qylon_cli", "sync", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    ids = server_ids(server.url, org.token)
    assert len(ids) == n and sorted(ids) == sorted(m.id for m in meetings)
    assert Outbox(Store()).pending() == []


def test_only_the_file_name_of_the_recording_is_uploaded(qylon, server, org, signed_in):
    """The local path names the user and their folders; the server gets the file name only."""
    meeting = make_meetings(1)[0]
    store = Store()
    meeting.source = "/home/ana.smith/Clients/Acme/2026-11-01 board.m4a"
    store.save_meeting(meeting)
    store.close()
    assert qylon("sync", "--json", env=signed_in).code == 0
    stored = httpx2.get(
        f"{server.url}/v1/meetings/{meeting.id}", headers={"Authorization": f"Bearer {org.token}"}
    ).json()
    assert stored["source"] == "2026-11-01 board.m4a"
    assert Store().get_meeting(meeting.id).source == meeting.source  # kept whole on the device


def test_a_client_the_server_does_not_know_is_warned_about(qylon, server, org, signed_in, tmp_path):
    assert qylon("clients", "add", "Acme", "--json", env=signed_in).code == 0
    [typo] = make_meetings(1, client="Acmee")
    first = qylon("sync", env=signed_in)
    assert first.code == 0, first.stderr
    assert (
        f"{typo.id[:8]} Meeting 000 is filed under 'Acmee', a client the server does not know"
        in (first.stdout)
    )
    assert qylon("sync", "--json", env=signed_in).json["data"]["unlinked"] == []  # nothing new
    # With the client list pulled, filing a meeting under an unknown name warns at once.
    transcript = tmp_path / "call.txt"
    transcript.write_text("Ana: We agreed to ship on Friday.\n")
    imported = qylon("meeting", "import", str(transcript), "--client", "Acmee", "--json")
    assert imported.code == 0, imported.stderr
    assert "'Acmee' is not in the team's client list" in imported.stderr
    assert "did you mean 'Acme'?" in imported.stderr
    transcript.write_text("Ana: We agreed to ship on Monday.\n")  # another meeting
    known = qylon("meeting", "import", str(transcript), "--client", "acme", "--json")
    assert known.code == 0 and known.stderr == ""
    # A filter is no filing: no warning.
    assert "client list" not in qylon("meeting", "list", "--client", "Nobody").stderr
    # Adding the client on the server links the meeting already there.
    added = qylon("clients", "add", "Acmee", "--json", env=signed_in).json["data"]
    linked = httpx2.get(
        f"{server.url}/v1/meetings",
        params={"client": added["id"]},
        headers={"Authorization": f"Bearer {org.token}"},
    ).json()
    assert [m["id"] for m in linked["items"]] == [typo.id]
