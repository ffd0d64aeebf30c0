"""A transcription worker for the team (`qylon agent worker`, docs/workers.md): takes
recordings queued on the team server, transcribes them here with the agent's own
pipeline (model, device, speakers and insights as configured), and posts each meeting
back.

Each job is held under a lease that a thread renews every third of its length. A
renewal refused (409: the lease lapsed and another worker took the job, or the job was
cancelled) stops the transcription at its next segment and nothing is posted. Jobs in
hand when the worker is asked to stop are finished first; a worker that dies holds its
jobs only until their leases lapse, then other workers take them.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qylon_cli.client import ApiClient
from qylon_cli.errors import InvalidInput, NotAllowed, NotAuthenticated, QylonError

BASE = "/v1/transcription-jobs"
ENDED = ("lease_lost", "job_ended")


class LeaseLost(Exception):
    """The server took the job back (another worker has it, or it was cancelled)."""


@dataclass
class Tally:
    completed: int = 0
    failed: int = 0
    dropped: int = 0  # lease lost: another worker finishes it
    audio_s: float = 0.0
    jobs: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str, job: dict, **detail) -> None:
        with self.lock:
            setattr(self, outcome, getattr(self, outcome) + 1)
            self.audio_s += detail.get("duration_s") or 0.0
            self.jobs.append(
                {"id": job["id"], "filename": job["filename"], "outcome": outcome, **detail}
            )

    def summary(self) -> dict:
        return {
            "completed": self.completed,
            "failed": self.failed,
            "dropped": self.dropped,
            "audio_s": round(self.audio_s, 1),
            "jobs": self.jobs,
        }


class Worker:
    """``concurrency`` threads, each taking one job at a time from ``api``'s server."""

    def __init__(
        self,
        api: ApiClient,
        *,
        name: str,
        concurrency: int,
        transcribe: Callable[[Path, dict, Callable[[float, float], None]], object],
        poll_s: float = 2.0,
        log: Callable[[str], None] = lambda line: None,
    ):
        """``transcribe(path, job, progress)`` returns the job's Meeting (progress may
        raise ``LeaseLost`` to stop it)."""
        self.api, self.name, self.concurrency = api, name, concurrency
        self.transcribe, self.poll_s, self.log = transcribe, poll_s, log
        self.tally = Tally()
        self.stop = threading.Event()
        self.fatal: QylonError | None = None  # the key was refused: every slot stops

    def run(self) -> dict:
        """Work until ``stop`` is set (then finish the jobs in hand); the tally. Raises
        the server's refusal when the key may not take jobs (no ``transcribe`` scope)."""
        threads = [
            threading.Thread(target=self._slot, name=f"slot-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
        if self.fatal is not None:
            raise self.fatal
        return self.tally.summary()

    def _slot(self) -> None:
        while not self.stop.is_set():
            try:
                got = self.api.post(
                    f"{BASE}/claim", {"worker": self.name, "concurrency": self.concurrency}
                )
            except (NotAuthenticated, NotAllowed) as exc:  # waiting will not help
                if isinstance(exc, NotAllowed):
                    exc.hint = (
                        "A worker's key needs the transcribe scope: "
                        "`qylon auth keys create --name worker --scope transcribe`."
                    )
                self.fatal = exc
                self.stop.set()
                return
            except QylonError as exc:  # the server is away: try again later
                self.log(f"claim failed: {exc.message}")
                self.stop.wait(self.poll_s)
                continue
            if not got.get("job"):
                self.stop.wait(min(self.poll_s, got.get("retry_after_s") or self.poll_s))
                continue
            self._work(got["job"], got["lease"], float(got["lease_s"]))

    def _work(self, job: dict, lease: str, lease_s: float) -> None:
        lost = threading.Event()
        done = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(job, lease, lease_s, lost, done), daemon=True
        )
        renewer.start()
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="qylon-job-") as folder:
                path = self._fetch(job, lease, Path(folder))

                def progress(position: float, total: float) -> None:
                    if lost.is_set():
                        raise LeaseLost

                meeting = self.transcribe(path, job, progress)
            if lost.is_set():
                raise LeaseLost
            body = {"lease": lease, "meeting": meeting.model_dump(mode="json")}
            self.api.request("POST", f"{BASE}/{job['id']}/complete", json=body, idempotent=True)
        except LeaseLost:
            self._outcome("dropped", job, "the server took it back; another worker has it")
        except QylonError as exc:
            if exc.code in ENDED:
                self._outcome("dropped", job, exc.message)
            else:
                self._give_up(job, lease, exc, retry=not isinstance(exc, InvalidInput))
        except Exception as exc:  # noqa: BLE001 - a fault here: another worker may do better
            self._give_up(job, lease, exc, retry=True)
        else:
            took = time.monotonic() - started
            self._outcome(
                "completed",
                job,
                f"meeting {job['meeting_id']} in {took:.1f} s",
                meeting_id=job["meeting_id"],
                duration_s=meeting.duration_s,
                seconds=round(took, 2),
            )
        finally:
            done.set()

    def _fetch(self, job: dict, lease: str, folder: Path) -> Path:
        response = self.api.check(
            self.api.send("GET", f"{BASE}/{job['id']}/audio", params={"lease": lease})
        )
        content = response.content
        if hashlib.sha256(content).hexdigest() != job["sha256"]:
            raise QylonError(f"{job['filename']}: the audio arrived damaged (checksum).")
        path = folder / (Path(job["filename"]).name or "recording")
        path.write_bytes(content)
        return path

    def _renew(self, job, lease, lease_s, lost: threading.Event, done: threading.Event) -> None:
        while not done.wait(lease_s / 3):
            try:
                self.api.post(f"{BASE}/{job['id']}/renew", {"lease": lease})
            except QylonError as exc:
                if exc.code in ENDED:
                    lost.set()
                    return
                self.log(f"{job['id']}: renewal failed ({exc.message}); trying again")

    def _give_up(self, job: dict, lease: str, exc: Exception, *, retry: bool) -> None:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        try:
            self.api.post(
                f"{BASE}/{job['id']}/fail",
                {"lease": lease, "error": message[:1000], "retry": retry},
            )
        except QylonError as failed:
            self.log(f"{job['id']}: could not report the failure ({failed.message})")
        self._outcome("failed", job, message, error=message, retried=retry)

    def _outcome(self, outcome: str, job: dict, text: str, **detail) -> None:
        self.tally.add(outcome, job, **detail)
        self.log(f"{job['id']} {job['filename']}: {outcome}: {text}")


def pipeline_transcriber(
    *, model: str | None, device: str | None, diarize: bool | None, warn: Callable[[str], None]
):
    """``transcribe(path, job, progress)`` with the agent's pipeline and settings (flags
    over settings), the model loaded once for every thread."""
    from qylon_cli import settings as settings_mod

    from . import insights, pipeline
    from .speech import transcribe as stt
    from .speech.attribution import from_settings

    settings = settings_mod.load()
    opts = stt.options_from_settings(settings, model=model, device=device)
    stt.load_model(opts, settings, on_warning=warn)  # fails here, before any job is taken
    diarization, naming = from_settings(settings, diarize=diarize)

    def transcribe(path: Path, job: dict, progress):
        try:
            meeting = pipeline.transcribe_file(
                path,
                opts,
                title=job.get("title"),
                client=job.get("client"),
                meeting_id=job["meeting_id"],
                settings=settings,
                on_progress=progress,
                on_warning=warn,
                diarization=diarization,
                naming=naming,
            )
        except insights.InsightsFailed as failed:  # the LLM is down: the transcript stands
            warn(f"{job['id']}: insights failed ({failed}); the transcript is posted without them")
            meeting = failed.meeting
        return meeting.model_copy(update={"source": job["filename"]})

    return transcribe
