"""The agent syncs with the team server by itself: after each meeting and on a timer,
queueing while the server is away and catching up when it is back."""

from __future__ import annotations

import time

import pytest

from ..conftest import credentials
from ..server.harness import free_port, new_org, sqlite_backend
from .test_daemon import agent_status, wait_for
from .test_sync import server_ids, server_process


@pytest.mark.slow
def test_agent_syncs_and_rides_out_a_server_outage(qylon, qylon_home, tmp_path, jfk_wav):
    assert qylon("config", "set", "agent.sync_interval_s", "2").code == 0
    with sqlite_backend(tmp_path) as backend:
        org = new_org(backend)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = credentials(url, org.token)
        assert qylon("agent", "start", env=env).code == 0
        try:
            with server_process(backend.url, port, tmp_path / "srv"):
                first = qylon("meeting", "transcribe", str(jfk_wav), "--background", "--json").json[
                    "data"
                ]
                wait_for(lambda: first["id"] in server_ids(url, org.token), timeout=60, step=1.0)
                status = qylon("agent", "status", "--json").json["data"]
                assert status["last_sync"]["server_reachable"] is True
                shown = qylon("agent", "status").stdout
                assert "Last sync: " in shown and "server reachable" in shown
            # The server goes away: the next meeting waits in the outbox.
            second = qylon(
                "meeting",
                "transcribe",
                str(jfk_wav),
                "--background",
                "--title",
                "Offline",
                "--json",
            ).json["data"]
            wait_for(
                lambda: (agent_status().get("last_sync") or {}).get("server_reachable") is False,
                timeout=60,
            )
            assert (
                qylon("sync", "--dry-run", "--json").json["data"]["pending"][0]["id"]
                == second["id"]
            )
            shown = qylon("agent", "status").stdout
            assert "server unreachable (" in shown and "1 meeting(s) waiting" in shown
            time.sleep(1)
            with server_process(backend.url, port, tmp_path / "srv"):
                wait_for(lambda: second["id"] in server_ids(url, org.token), timeout=60, step=1.0)
                ids = server_ids(url, org.token)
            assert sorted(ids) == sorted([first["id"], second["id"]])  # each exactly once
        finally:
            qylon("agent", "stop")
