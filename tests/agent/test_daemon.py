"""The agent daemon as a separate process on a temporary QYLON_HOME.

The commands run in-process (``run_qylon_here``: the same entry point, environment, streams
and exit codes, without an interpreter start per command); the daemon is always a process of
its own, and `agent start` and `agent stop` run the real subprocess, so that the daemon is
no child of the test process. test_lifecycle_status_and_second_start and
test_sigkill_mid_job_then_restart_completes_once run the real subprocess (``qylon_process``):
the exit codes of the real process, and a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from qylon_agent.speech.audio import decode

from ..conftest import AUDIO, SAMPLES, run_qylon_here
from .audiofiles import read_wav, write_wav


@pytest.fixture
def qylon():
    """In-process; see the module docstring for the tests on the real subprocess."""
    return run_qylon_here


def agent_pid(qylon_home) -> int | None:
    info = qylon_home / "agent" / "agent.lock.json"  # the lock's sidecar (qylon_agent.locks)
    return json.loads(info.read_text() or "{}").get("pid") if info.exists() else None


@pytest.fixture
def agent(qylon_process, qylon_home):
    """Start the daemon; make sure it is gone afterwards, however the test ended."""
    qylon = qylon_process  # a daemon started in-process would be a child of the test process
    started = qylon("agent", "start", "--json")
    assert started.code == 0, started.stderr
    yield started.json["data"]
    qylon("agent", "stop")
    pid = agent_pid(qylon_home)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def agent_status() -> dict:
    """The daemon's status as `qylon agent status --json` shows it while it runs, asked over
    its socket from this process: polling through a new Python process every time would
    cost more CPU than the work being waited for."""
    from qylon_agent.daemon.client import AgentClient

    return AgentClient().request("GET", "/v1/status")


def agent_jobs(status: str | None = None) -> list[dict]:
    """All the daemon's jobs (`qylon agent jobs --all --json`), or those with this status, asked in-process."""
    from qylon_agent.daemon.client import AgentClient

    return [
        j for j in AgentClient().request("GET", "/v1/jobs?all=1") if status in (None, j["status"])
    ]


def agent_gone() -> bool:
    from qylon_agent.daemon.client import AgentClient

    return AgentClient().running() is None


def wait_for(predicate, timeout: float = 60, step: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting")


def test_lifecycle_status_and_second_start(qylon_process, agent, qylon_home):
    qylon = qylon_process  # the real subprocess
    status = qylon("agent", "status", "--json").json["data"]
    assert status["running"] is True and status["pid"] == agent["pid"]
    assert status["queue_length"] == 0 and status["version"]
    again = qylon("agent", "start", "--json")
    assert again.code == 1 and again.json["error"]["code"] == "already_running"
    assert qylon("agent", "stop", "--json").json["data"] == {"stopped": True, "pid": agent["pid"]}
    assert qylon("agent", "status", "--json").json["data"] == {"running": False}
    assert not (qylon_home / "agent" / "agent.sock").exists()


def test_socket_is_private(agent, qylon_home):
    sock = qylon_home / "agent" / "agent.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to act as another user"
)
def test_other_user_is_refused(agent, qylon_home):
    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n    s.connect(sys.argv[1]); s.sendall(b'GET /v1/status HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n'); print(s.recv(100))\n"
        "except OSError as e:\n    print('refused', type(e).__name__)\n"
    )
    sock = str(qylon_home / "agent" / "agent.sock")
    # Even with the folder opened up, the socket's mode and the peer-credential check refuse.
    os.chmod(sock.rsplit("/", 1)[0], 0o755)
    out = subprocess.run(
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            sys.executable,
            "-c",
            probe,
            sock,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "refused" in out.stdout or out.stdout.strip() in ("b''",), out.stdout + out.stderr
    os.chmod(sock, 0o666)
    out = subprocess.run(
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            sys.executable,
            "-c",
            probe,
            sock,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "200" not in out.stdout, out.stdout


def test_background_transcription(qylon, agent, jfk_wav):
    result = qylon("meeting", "transcribe", str(jfk_wav), "--background", "--json")
    assert result.code == 0, result.stderr
    text = " ".join(s["text"] for s in result.json["data"]["segments"]).lower()
    assert "ask not what your country can do for you" in text
    jobs = qylon("agent", "jobs", "--all", "--json").json["data"]["items"]
    assert [(j["kind"], j["status"]) for j in jobs] == [("transcribe", "done")]
    assert jobs[0]["result"]["meeting_id"] == result.json["data"]["id"]


def test_bad_file_is_parked_and_reported(qylon, agent, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio" * 100)
    result = qylon("meeting", "transcribe", str(bad), "--background", "--json")
    assert result.code == 3 and result.json["error"]["code"] == "invalid_audio"
    [job] = qylon("agent", "jobs", "--json").json["data"]["items"]
    assert job["status"] == "parked" and "not an audio file" in job["error"]
    retried = qylon("agent", "jobs", "retry", job["id"][:8], "--json").json["data"]
    assert retried["status"] in ("queued", "running", "parked") and retried["attempts"] in (0, 1)
    assert qylon("agent", "jobs", "cancel", "ffffffff", "--json").code == 5


def test_without_agent_runs_in_process(qylon, jfk_wav):
    result = qylon("meeting", "transcribe", str(jfk_wav), "--background", "--json")
    assert result.code == 0
    assert "No agent is running" in result.stderr


@pytest.mark.slow
def test_sigkill_mid_job_then_restart_completes_once(
    qylon_process, agent, qylon_home, tmp_path, jfk_wav
):
    qylon = qylon_process  # the real subprocess
    # 2.3 minutes of different speech: the same clip over and over makes Whisper fall back to
    # random sampling, which (with one thread as here) now and then loses half the file.
    jfk, call = read_wav(jfk_wav), read_wav(AUDIO / "two_speakers_call.wav")
    team = decode(SAMPLES / "team_meeting.ogg").samples
    long = write_wav(tmp_path / "long.wav", np.concatenate([team, jfk, call, team, jfk]))
    said = [
        *[line.split(":", 1)[1] for line in (SAMPLES / "team_meeting.txt").read_text().splitlines()]
        * 2,
        (AUDIO / "jfk.txt").read_text() * 2,
        (AUDIO / "two_speakers_call.txt").read_text(),
    ]
    queued = qylon("meeting", "transcribe", str(long), "--background", "--no-wait", "--json").json[
        "data"
    ]["job"]

    def running():
        return any(
            j["id"] == queued["id"] and (j["progress"]["position_s"] or 0) > 0
            for j in agent_status()["current"]
        )

    wait_for(running, timeout=150)
    os.kill(agent["pid"], signal.SIGKILL)
    wait_for(agent_gone, timeout=10)
    assert qylon("agent", "status", "--json").json["data"] == {"running": False}
    assert (qylon_home / "agent" / "agent.lock").exists()  # the stale lock is still there
    restarted = qylon("agent", "start", "--json")
    assert restarted.code == 0, restarted.stderr
    done = wait_for(lambda: agent_jobs("done"), timeout=240, step=0.5)
    assert done[0]["id"] == queued["id"] and done[0]["attempts"] == 2
    meetings = qylon("meeting", "list", "--json").json["data"]["items"]
    assert len(meetings) == 1 and meetings[0]["id"] == done[0]["result"]["meeting_id"]
    shown = qylon("meeting", "show", meetings[0]["id"], "--json").json["data"]
    # The whole file, not just what came before the kill (measured by coverage and words).
    segments = shown["segments"]
    assert segments[0]["start"] <= 2 and segments[-1]["end"] >= shown["duration_s"] - 12
    assert len(" ".join(s["text"] for s in segments).split()) >= 0.7 * len(" ".join(said).split())


def test_logs(qylon, agent):
    out = qylon("agent", "logs", "-n", "20")
    events = [json.loads(line)["message"] for line in out.stdout.splitlines()]
    assert "agent started" in events


def test_install_and_uninstall_service(qylon, qylon_home, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    result = qylon("agent", "install-service", "--no-enable", "--json", env=env)
    assert result.code == 0, result.stderr
    unit = tmp_path / "cfg" / "systemd" / "user" / "qylon-agent.service"
    assert result.json["data"]["path"] == str(unit)
    text = unit.read_text()
    assert f"ExecStart={sys.executable} -m qylon_agent.daemon" in text
    assert f'Environment="QYLON_HOME={qylon_home}"' in text
    assert "[Install]" in text and "WantedBy=default.target" in text
    removed = qylon("agent", "uninstall-service", "--json", env=env)
    assert removed.json["data"]["removed"] is True and not unit.exists()
    assert qylon("agent", "uninstall-service", "--json", env=env).json["data"]["removed"] is False


def test_auto_export_follows_changes(qylon, qylon_process, qylon_home, tmp_path, jfk_wav):
    import yaml
    from qylon_agent.store.database import Store

    vault = tmp_path / "vault"
    assert qylon("config", "set", "agent.export_dir", str(vault)).code == 0
    assert qylon_process("agent", "start").code == 0  # the daemon: no child of this process
    try:
        meeting = qylon(
            "meeting", "transcribe", str(jfk_wav), "--background", "--title", "Inaugural", "--json"
        ).json["data"]
        [path] = wait_for(lambda: list(vault.glob("*.md")), timeout=30)
        assert path.name.endswith(f"Inaugural ({meeting['id'][:8]}).md")
        text = path.read_text()
        head, body = text.split("---\n", 2)[1:]
        front = yaml.safe_load(head)
        assert front["title"] == "Inaugural" and front["qylon_id"] == meeting["id"]
        assert body.lstrip().startswith("# Inaugural") and "country" in body
        # A change to the meeting (here its title, as another command would make it) rewrites the file.
        store = Store()
        store.db["meetings"].update(meeting["id"], {"title": "JFK 1961"})
        renamed = wait_for(
            lambda: [p for p in vault.glob("*.md") if "JFK 1961" in p.name], timeout=30
        )
        assert (
            not path.exists()
            and yaml.safe_load(renamed[0].read_text().split("---\n")[1])["title"] == "JFK 1961"
        )
        assert qylon("meeting", "delete", meeting["id"], "--yes").code == 0
        wait_for(lambda: not list(vault.glob("*.md")), timeout=30)
    finally:
        qylon_process("agent", "stop")


def test_auto_export_is_paused_while_encryption_is_on_unless_plain_copies_are_wanted(qylon):
    from qylon_agent.daemon.__main__ import export_folder

    from qylon_cli import settings as settings_mod

    assert qylon("config", "set", "agent.export_dir", "/tmp/vault").code == 0
    assert export_folder(settings_mod.load()) == "/tmp/vault"
    assert qylon("config", "set", "privacy.encrypt", "true").code == 0
    assert export_folder(settings_mod.load()) == ""
    status = qylon("privacy", "status", "--json").json["data"]
    assert any("paused" in w for w in status["warnings"]), status
    assert qylon("config", "set", "agent.export_plain", "true").code == 0
    assert export_folder(settings_mod.load()) == "/tmp/vault"
