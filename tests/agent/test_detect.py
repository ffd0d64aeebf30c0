"""Meeting detection: a stand-in process records from a (virtual) microphone under a
known application's name, through a real PulseAudio server, and the agent notices."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from qylon_agent.recording.detect import identify

from .test_daemon import agent_status, wait_for


@pytest.mark.parametrize(
    ("props", "app"),
    [
        ({"application.process.binary": "zoom", "application.name": "ZOOM VoiceEngine"}, "Zoom"),
        ({"application.process.binary": "teams-for-linux"}, "Microsoft Teams"),
        ({"application.name": "Microsoft Teams - Preview"}, "Microsoft Teams"),
        ({"application.process.binary": "CiscoCollabHost"}, "Webex"),
        ({"application.process.binary": "slack"}, "Slack"),
        (
            {"application.process.binary": "chrome", "media.name": "Meet – Weekly sync"},
            "Google Meet",
        ),
        ({"application.process.binary": "firefox", "media.name": "YouTube"}, None),
        ({"application.process.binary": "arecord"}, None),
    ],
)
def test_identify(props, app):
    assert identify(props) == app


def test_agent_notices_a_meeting_app(qylon, qylon_home, pulse, tmp_path):
    env = {k: pulse.env[k] for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER")}
    assert qylon("agent", "start", env=env).code == 0
    fake = tmp_path / "zoom"
    shutil.copy(shutil.which("pacat"), fake)  # a recording client whose binary is named "zoom"
    stand_in = subprocess.Popen(
        [str(fake), "--record", "-d", "mic"], env=pulse.env, stdout=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: agent_status().get("meeting_apps") == ["Zoom"], timeout=15)
        stand_in.terminate()
        stand_in.wait(5)
        wait_for(lambda: agent_status().get("meeting_apps") == [], timeout=15)
        log = [
            json.loads(line)
            for line in (qylon_home / "agent" / "agent.log").read_text().splitlines()
        ]
        assert {"meeting detected", "meeting ended"} <= {
            e["message"] for e in log if e.get("app") == "Zoom"
        }
    finally:
        stand_in.kill()
        qylon("agent", "stop")
