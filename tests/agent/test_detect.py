"""Meeting detection: a stand-in process records from a (virtual) microphone under a
known application's name, through a real PulseAudio server, and the agent notices."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
from qylon_agent.detect import identify

from .test_daemon import wait_for


@pytest.mark.parametrize(
    ("props", "app"),
    [
        ({"application.process.binary": "zoom", "application.name": "ZOOM VoiceEngine"}, "Zoom"),
        ({"application.process.binary": "teams-for-linux"}, "Microsoft Teams"),
        ({"application.name": "Microsoft Teams - Preview"}, "Microsoft Teams"),
        ({"application.process.binary": "CiscoCollabHost"}, "Webex"),
        ({"application.process.binary": "slack"}, "Slack"),
        ({"application.process.binary": "chrome", "media.name": "Meet – Weekly sync"}, "Google Meet"),
        ({"application.process.binary": "firefox", "media.name": "YouTube"}, None),
        ({"application.process.binary": "arecord"}, None),
    ],
)
def test_identify(props, app):
    assert identify(props) == app


@pytest.fixture(scope="module")
def pulse():
    """A private PulseAudio server with a virtual sink, for this module only."""
    for tool in ("pulseaudio", "pactl", "pacat"):
        assert shutil.which(tool), f"{tool} missing: run `make test` (scripts/system-deps.sh installs it)"
    runtime = tempfile.mkdtemp(prefix="qylon-pulse-")
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "PULSE_RUNTIME_PATH": runtime + "/pulse"}
    subprocess.run(
        ["pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1", "--use-pid-file=yes",
         "--load=module-native-protocol-unix", "--load=module-null-sink sink_name=vsink", "--load=module-always-sink"],
        env=env, check=True, capture_output=True,
    )
    wait_for(lambda: subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0, timeout=10)
    yield env
    subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True)
    shutil.rmtree(runtime, ignore_errors=True)


def test_agent_notices_a_meeting_app(qylon, qylon_home, pulse, tmp_path):
    env = {k: pulse[k] for k in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH")}
    assert qylon("agent", "start", env=env).code == 0
    fake = tmp_path / "zoom"
    shutil.copy(shutil.which("pacat"), fake)  # a recording client whose binary is named "zoom"
    stand_in = subprocess.Popen([str(fake), "--record", "-d", "vsink.monitor"], env=pulse, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: qylon("agent", "status", "--json").json["data"].get("meeting_apps") == ["Zoom"], timeout=15)
        stand_in.terminate()
        stand_in.wait(5)
        wait_for(lambda: qylon("agent", "status", "--json").json["data"].get("meeting_apps") == [], timeout=15)
        log = [json.loads(line) for line in (qylon_home / "agent" / "agent.log").read_text().splitlines()]
        assert {"meeting detected", "meeting ended"} <= {e["message"] for e in log if e.get("app") == "Zoom"}
    finally:
        stand_in.kill()
        qylon("agent", "stop")
