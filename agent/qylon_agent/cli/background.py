"""Hand work to the running agent and follow it: `meeting transcribe --background`, and
the transcription of a finished `meeting record` when an agent runs."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from qylon_cli import output
from qylon_cli.errors import QylonError

from ..speech.audio import check_file


def agent_client():
    """The agent's client when an agent runs for this QYLON_HOME, else None."""
    from ..daemon.client import AgentClient

    agent = AgentClient()
    return agent if agent.running() is not None else None


def run_in_agent(agent, kind: str, payload: dict, label: str) -> dict:
    """Queue a job, show its progress until it ends; raise its error as if it had run here."""
    job = agent.request("POST", "/v1/jobs", {"kind": kind, "payload": payload})
    job = _follow(agent, job, label)
    if job["status"] != "done":
        detail = (job.get("result") or {}).get("error") or {}
        err = QylonError(
            job.get("error") or f"The job ended {job['status']}.",
            hint=detail.get("hint"),
            code=detail.get("code") or f"job_{job['status']}",
        )
        err.exit_code = detail.get("exit_code", 1)
        raise err
    for message in job["result"].get("warnings", []):
        output.warn(message)
    return job


def transcribe_in_agent(
    file: Path,
    *,
    title,
    client,
    options: dict,
    speakers: dict,
    extractor: str | None,
    wait: bool,
    fallback: str | None = None,
    recorded_at=None,
) -> bool:
    """Queue a transcription in the agent. False when no agent runs (do it in process)."""
    agent = agent_client()
    if agent is None:
        output.info("No agent is running (`qylon agent start`); transcribing in this process.")
        return False
    check_file(file)
    payload = {
        "path": str(file.resolve()),
        "title": title,
        "client": client,
        "meeting_id": str(uuid.uuid4()),
        "options": {k: v for k, v in options.items() if v is not None},
        "extractor": extractor,
        "fallback": fallback,
        "speakers": {k: v for k, v in speakers.items() if v is not None},
        "recorded_at": recorded_at.isoformat() if recorded_at else None,
    }
    if not wait:
        job = agent.request("POST", "/v1/jobs", {"kind": "transcribe", "payload": payload})
        output.emit(
            {"job": job},
            lambda c: c.print(f"Queued job {job['id'][:8]}; follow it with `qylon agent jobs`."),
        )
        return True
    job = run_in_agent(agent, "transcribe", payload, f"Transcribing {file.name} (agent)")
    from ..store.database import Store
    from . import render

    meeting = Store().get_meeting(job["result"]["meeting_id"])
    data = {**render.meeting_summary(meeting), **render.heard(job["result"])}
    output.emit(data, lambda c: render.transcript(c, meeting))
    return True


def _follow(agent, job: dict, label: str) -> dict:
    from .progress import audio_progress

    try:
        with audio_progress(label) as on_progress:
            while job["status"] in ("queued", "running"):
                time.sleep(0.2)
                job = agent.request("GET", f"/v1/jobs/{job['id']}")
                progress = job.get("progress") or {}
                if progress.get("total_s"):
                    on_progress(progress["position_s"], progress["total_s"])
    except KeyboardInterrupt:
        output.info(
            f"Stopped waiting; the agent goes on with job {job['id'][:8]} (`qylon agent jobs`)."
        )
        raise
    return job
