"""The agent and recordings: `meeting record` hands its transcription to a running
agent, the agent finishes recordings a crash left behind, and it records detected
meetings by itself. Real audio through the private PulseAudio server."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from .test_daemon import agent_jobs, agent_status, wait_for
from .test_record import REFERENCE, Run, normalise, wer


def agent(qylon, pulse, *args):
    return qylon(
        "agent", *args, env={k: pulse.env[k] for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER", "HOME")}
    )


def transcript(qylon, meeting_id: str) -> str:
    return " ".join(
        s["text"] for s in qylon("meeting", "show", meeting_id, "--json").json["data"]["segments"]
    )


@pytest.mark.slow
def test_record_hands_transcription_to_the_agent(qylon, pulse, qylon_home, jfk_wav):
    assert agent(qylon, pulse, "start").code == 0
    try:
        run = Run(
            pulse,
            qylon_home,
            "record",
            "--device",
            "vsink.monitor",
            "--no-system-audio",
            "--max-duration",
            "12",
            "--json",
        )
        run.manifest()
        pulse.play(jfk_wav).wait(timeout=30)
        code, out, err = run.finish()
        assert code == 0, err
        meeting = json.loads(out)["data"]["meeting"]
        assert wer(REFERENCE, " ".join(s["text"] for s in meeting["segments"])) <= 0.1
        [job] = qylon("agent", "jobs", "--all", "--json").json["data"]["items"]
        assert (job["kind"], job["status"], job["result"]["meeting_id"]) == (
            "recording",
            "done",
            meeting["id"],
        )
    finally:
        qylon("agent", "stop")


@pytest.mark.slow
def test_agent_finishes_a_recording_left_by_a_crash(qylon, pulse, qylon_home, jfk_wav):
    run = Run(
        pulse,
        qylon_home,
        "record",
        "--device",
        "vsink.monitor",
        "--no-system-audio",
        "--title",
        "Crash",
    )
    meta = run.manifest()
    pulse.play(jfk_wav).wait(timeout=30)
    time.sleep(0.5)
    run.proc.kill()
    run.finish()
    assert agent(qylon, pulse, "start").code == 0
    try:
        [job] = wait_for(lambda: agent_jobs("done"), 120)
        assert job["kind"] == "recording" and job["result"]["recording_id"] == meta["id"]
        assert "my fellow americans ask not what your country" in normalise(
            transcript(qylon, job["result"]["meeting_id"])
        )
        assert qylon("meeting", "recover", "--json").json["data"] == []  # nothing left to finish
    finally:
        qylon("agent", "stop")


@pytest.mark.slow
def test_auto_record_a_detected_meeting(qylon, pulse, qylon_home, jfk_wav, tmp_path):
    assert qylon("config", "set", "agent.auto_record", "true").code == 0
    assert agent(qylon, pulse, "start").code == 0
    fake = tmp_path / "zoom"
    shutil.copy(shutil.which("pacat"), fake)
    call = subprocess.Popen(
        [str(fake), "--record", "-d", "mic"], env=pulse.env, stdout=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: agent_status().get("recording"), timeout=20)
        time.sleep(1)
        pulse.play(jfk_wav, sink="micsink").wait(timeout=30)
        time.sleep(1)
        call.terminate()
        call.wait(5)
        [job] = wait_for(lambda: agent_jobs("done"), 120)
        assert job["kind"] == "recording"
        text = transcript(qylon, job["result"]["meeting_id"])
        assert wer(REFERENCE, text) <= 0.2, text
        meeting = qylon("meeting", "show", job["result"]["meeting_id"], "--json").json["data"]
        assert meeting["title"].startswith("Zoom call")
    finally:
        call.kill()
        qylon("agent", "stop")
