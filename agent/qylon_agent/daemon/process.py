"""The daemon process: lock, control API, workers, clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import signal
import threading
import time
from datetime import UTC, datetime

from qylon_cli.errors import EXIT_AUTH, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_USAGE, QylonError

from .. import __version__
from ..locks import ProcessLock
from ..store.database import Store
from . import control, worker
from .jobs import JobQueue
from .state import AgentPaths, agent_paths

log = logging.getLogger("qylon.agent")


class AlreadyRunning(QylonError):
    code = "already_running"


class _Stop(BaseException):
    """Raised inside a job's progress callback to stop it (cancel or shutdown)."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry)


def setup_logging(paths: AgentPaths, *, foreground: bool) -> None:
    handler = logging.handlers.RotatingFileHandler(paths.log, maxBytes=5_000_000, backupCount=3)
    handler.setFormatter(JsonFormatter())
    log.handlers[:] = [handler]
    if foreground:
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(console)
    log.setLevel(logging.INFO)


def auto_record_mode(value) -> str:
    """``agent.auto_record`` as "off", "detect" or "calendar" (true, as it once was, is "detect")."""
    mode = str(value).strip().lower()
    if mode in ("true", "1", "yes", "on", "detect"):
        return "detect"
    return "calendar" if mode == "calendar" else "off"


class Agent:
    def __init__(
        self,
        *,
        concurrency: int = 1,
        export_dir: str = "",
        detect: bool = True,
        auto_record: str = "off",
        sync_interval_s: float = 300.0,
    ):
        self.paths = agent_paths()
        self.lock = ProcessLock(self.paths.lock)
        self.started = time.time()
        self.concurrency = concurrency
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.current: dict[str, dict] = {}  # job id -> {kind, progress, cancel}
        self.local = threading.local()
        self.model_ready = False
        self.export_dir = export_dir
        self.export_wake = threading.Event()
        self.detect = detect
        self.meetings_detected: list[str] = []
        self.auto_record = auto_record == "detect"  # record detected meetings
        self.calendar_record = auto_record == "calendar"  # record the calendar's video calls
        self.calendar_event: dict | None = None  # the event being recorded, if so
        self.auto_recorder = None  # the Recorder of a meeting the agent is recording itself
        self.record_thread: threading.Thread | None = None
        self.yield_to_recording = (os.cpu_count() or 1) <= 2
        self.sync_interval_s = sync_interval_s
        self.sync_wake = threading.Event()
        self.last_sync: dict | None = None

    # -- store per thread (sqlite connections are not shared across threads) --
    def queue(self) -> JobQueue:
        if not hasattr(self.local, "queue"):
            self.local.queue = JobQueue(Store())
        return self.local.queue

    # -- control API -------------------------------------------------------
    def routes(self):
        return [
            ("GET", "/v1/status", lambda **_: self.status()),
            (
                "GET",
                "/v1/jobs",
                lambda params, **_: self.queue().list(include_finished=params.get("all") == "1"),
            ),
            ("POST", "/v1/jobs", lambda body, **_: self.submit(body)),
            ("GET", "/v1/jobs/(?P<ref>[0-9a-f-]+)", lambda ref, **_: self.job(ref)),
            ("POST", "/v1/jobs/(?P<ref>[0-9a-f-]+)/cancel", lambda ref, **_: self.cancel(ref)),
            (
                "POST",
                "/v1/jobs/(?P<ref>[0-9a-f-]+)/retry",
                lambda ref, **_: self._woken(self.queue().retry(ref)),
            ),
            ("POST", "/v1/shutdown", lambda **_: self.shutdown()),
        ]

    def status(self) -> dict:
        return {
            "pid": os.getpid(),
            "version": __version__,
            "uptime_s": round(time.time() - self.started, 1),
            "queue_length": self.queue().pending_count(),
            "current": [
                {"id": job_id, **{k: v for k, v in info.items() if k != "cancel"}}
                for job_id, info in self.current.items()
            ],
            "model_ready": self.model_ready,
            "concurrency": self.concurrency,
            "home": str(self.paths.root.parent),
            "meeting_apps": sorted(self.meetings_detected),
            "recording": self.auto_recorder.rec.id if self.auto_recorder else None,
            "calendar_event": self.calendar_event["title"] if self.calendar_event else None,
            "last_sync": self.last_sync,
        }

    def job(self, ref: str) -> dict:
        job = self.queue().get(ref)
        if job["id"] in self.current:
            job["progress"] = self.current[job["id"]]["progress"]
        return job

    def submit(self, body: dict) -> dict:
        job = self.queue().enqueue(body.get("kind", ""), body.get("payload") or {})
        log.info("job queued", extra={"fields": {"job": job["id"], "kind": job["kind"]}})
        return self._woken(job)

    def _woken(self, job: dict) -> dict:
        self.wake.set()
        return job

    def cancel(self, ref: str) -> dict:
        job = self.queue().cancel(ref)
        if job["id"] in self.current:
            self.current[job["id"]]["cancel"] = True
        log.info("job cancelled", extra={"fields": {"job": job["id"]}})
        return job

    def shutdown(self) -> dict:
        threading.Thread(target=self.stop_event.set, daemon=True).start()
        return {"stopping": True}

    # -- workers ----------------------------------------------------------
    def work(self) -> None:
        queue = self.queue()
        while not self.stop_event.is_set():
            job = queue.claim()
            if job is None:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            self.run_job(queue, job)

    def run_job(self, queue: JobQueue, job: dict) -> None:
        info = {
            "kind": job["kind"],
            "progress": {"position_s": 0.0, "total_s": None},
            "cancel": False,
        }
        self.current[job["id"]] = info
        fields = {"job": job["id"], "kind": job["kind"], "attempt": job["attempts"]}
        log.info("job started", extra={"fields": fields})

        def progress(position: float, total: float) -> None:
            info["progress"] = {"position_s": round(position, 2), "total_s": round(total, 2)}
            # On 2 cores or fewer, a meeting being recorded comes first: wait it out.
            while (
                self.yield_to_recording
                and self.recording_live()
                and not (info["cancel"] or self.stop_event.is_set())
            ):
                info["paused"] = "a recording is running"
                self.stop_event.wait(1.0)
            info.pop("paused", None)
            if info["cancel"] or self.stop_event.is_set():
                raise _Stop()

        try:
            result = worker.HANDLERS[job["kind"]](queue.store, job["payload"], progress)
        except _Stop:
            if not info["cancel"]:
                queue.release(job["id"])
                log.info("job released for the next start", extra={"fields": fields})
        except QylonError as exc:
            detail = {**exc.to_dict(), "exit_code": exc.exit_code}
            # Bad input, bad usage, no permission, nothing there: trying again cannot help;
            # nor can it where the handler says so (the part that worked is kept, the hint says what next).
            permanent = getattr(exc, "permanent", False) or exc.exit_code in (
                EXIT_USAGE,
                EXIT_INVALID,
                EXIT_AUTH,
                EXIT_NOT_FOUND,
            )
            failed = queue.fail(job["id"], exc.message, permanent=permanent, detail=detail)
            log.warning(
                "job failed",
                extra={"fields": {**fields, "error": exc.message, "status": failed["status"]}},
            )
        except Exception as exc:
            failed = queue.fail(job["id"], f"{type(exc).__name__}: {exc}")
            log.exception("job crashed", extra={"fields": {**fields, "status": failed["status"]}})
        else:
            queue.finish(job["id"], result)
            self.export_wake.set()
            if job["kind"] == "sync":
                self.last_sync = {
                    "at": time.time(),
                    "server_reachable": not result.get("offline"),
                    **result,
                }
            elif result.get("meeting_id"):
                self.sync_wake.set()  # a new meeting: send it now rather than at the next tick
            log.info("job done", extra={"fields": {**fields, **result}})
        finally:
            self.current.pop(job["id"], None)

    # -- recordings -------------------------------------------------------
    def recordings_root(self):
        from qylon_cli import settings as settings_mod

        from ..recording import files as recording

        return recording.root(settings_mod.load())

    def recording_live(self) -> bool:
        from ..recording import files as recording

        return any(
            rec.state == "recording" and rec.is_live()
            for rec in recording.all_recordings(self.recordings_root())
        )

    def recover_recordings(self) -> int:
        """Queue the recordings a dead recorder (or agent) left unfinished, as `meeting recover` would."""
        from ..recording import files as recording

        queue, queued = self.queue(), 0
        for rec in recording.pending(self.recordings_root()):
            if not rec.is_live() and not queue.active_for("recording", "recording_id", rec.id):
                queue.enqueue("recording", {"recording_id": rec.id})
                queued += 1
        return queued

    def record_meeting(self, app: str, event: dict | None = None) -> None:
        """Record a detected meeting until its application stops using the microphone, or
        the calendar's ``event`` (``calendar.recording_info``) until it ends."""
        from datetime import datetime

        from qylon_cli import settings as settings_mod

        from ..recording import devices
        from ..recording import files as recording
        from ..recording.capture import capture

        settings = settings_mod.load()
        sources, _notes = devices.pick(None, True)
        rate = min(sources[0].default_rate or 48000, 48000)
        rec = recording.Recording.create(
            self.recordings_root(),
            title=event["title"] if event else f"{app} call {datetime.now():%Y-%m-%d %H:%M}",
            client=event["client"] if event else None,
            calendar=event,
            rate=rate,
            channels=len(sources),
            transcribe=True,
            auto=app,
            sources=[
                {"channel": i, "name": src.name, "kind": src.kind} for i, src in enumerate(sources)
            ],
        )
        log.info("recording started", extra={"fields": {"app": app, "recording": rec.id}})

        def event(kind: str, message: str) -> None:
            log.info(message, extra={"fields": {"recording": rec.id, "event": kind}})

        def started(recorder) -> None:
            self.auto_recorder = recorder

        try:
            result = capture(
                rec, sources, rate, settings=settings, on_event=event, on_start=started
            )
            log.info(
                "recording stopped",
                extra={"fields": {"recording": rec.id, "seconds": result.seconds}},
            )
            self._woken(self.queue().enqueue("recording", {"recording_id": rec.id}))
        except QylonError as exc:
            log.warning(f"recording failed: {exc.message}", extra={"fields": {"recording": rec.id}})
        finally:
            self.auto_recorder = None
            self.calendar_event = None

    def calendar_loop(self) -> None:
        """``agent.auto_record = "calendar"``: look at the calendar every few seconds (its
        local copy, asked again after calendar.refresh_s; offline, the copy as it is)."""
        from qylon_cli import settings as settings_mod

        store, started = Store(), set()
        while not self.stop_event.is_set():
            settings = settings_mod.load()
            try:
                self.calendar_tick(store, settings, started)
            except Exception as exc:  # noqa: BLE001 - a calendar that fails is logged, not fatal
                log.warning(f"the calendar was not read: {exc}")
            self.stop_event.wait(min(10.0, float(settings.get("calendar.refresh_s", 300))))

    def calendar_tick(self, store, settings, started: set, now: datetime | None = None) -> None:
        """Stop the recording of an event that has ended; start one for an event with a
        video link that has begun (each event once: ``started`` holds its id and start)."""
        from .. import calendar
        from .notify import notify

        now = now or datetime.now(UTC)
        held = self.calendar_event
        if held is not None:
            if now >= datetime.fromisoformat(held["end"]) and self.auto_recorder is not None:
                log.info("calendar event ended", extra={"fields": {"event": held["event_id"]}})
                self.auto_recorder.request_stop("event_ended")
            return
        if self.record_thread and self.record_thread.is_alive():
            return
        found = calendar.window(store, settings, now=now)
        event = found.current(now)
        if event is None or not event.meeting_url or (event.id, event.start) in started:
            return
        started.add((event.id, event.start))
        info = calendar.recording_info(store, settings, found.provider, event)
        log.info("calendar event began", extra={"fields": {"event": event.id}})
        notify("Recording your meeting", f"{event.title}: Qylon records until it ends.")
        self.calendar_event = info
        self.record_thread = threading.Thread(
            target=self.record_meeting, args=("calendar", info), daemon=True, name="record"
        )
        self.record_thread.start()

    def _warm(self) -> None:
        try:
            worker.warm_up()
            self.model_ready = True
            log.info("model loaded")
        except Exception as exc:  # noqa: BLE001
            log.warning(f"model could not be preloaded: {exc}")

    def sync_loop(self) -> None:
        """Queue a sync after each meeting and every agent.sync_interval_s, when a server is configured."""
        while not self.stop_event.is_set():
            self.sync_wake.wait(self.sync_interval_s)
            self.sync_wake.clear()
            if self.stop_event.is_set() or not worker.server_configured():
                continue
            try:
                queue = self.queue()
                if not queue.active_for("sync", "reason", "auto"):
                    self._woken(queue.enqueue("sync", {"reason": "auto"}, max_attempts=1))
            except Exception as exc:  # noqa: BLE001 - e.g. "database is locked": try again at the next tick
                log.warning(f"could not queue a sync: {exc}")

    def retention_loop(self) -> None:
        """Apply privacy.keep_audio_days / keep_transcripts_days now and every hour."""
        from qylon_cli import settings as settings_mod

        from ..privacy import retention

        while not self.stop_event.is_set():
            try:
                done = retention.apply(settings_mod.load())
                if done["audio"] or done["meetings"]:
                    log.info(
                        "retention applied",
                        extra={
                            "fields": {
                                "audio": len(done["audio"]),
                                "meetings": len(done["meetings"]),
                            }
                        },
                    )
            except Exception as exc:  # noqa: BLE001 - keep the agent up; try again in an hour
                log.warning(f"retention failed: {exc}")
            self.stop_event.wait(3600)

    def export_loop(self) -> None:
        """Keep agent.export_dir in step with the store (see sync/folder_sync.py)."""
        from pathlib import Path

        from ..sync.folder_sync import sync_exports

        folder = Path(self.export_dir).expanduser()
        store = Store()
        while not self.stop_event.is_set():
            try:
                for path in sync_exports(store, folder):
                    log.info("exported", extra={"fields": {"path": path}})
            except Exception as exc:  # noqa: BLE001 - keep trying; say why
                log.warning(f"export to {folder} failed: {exc}")
            self.export_wake.wait(3.0)
            self.export_wake.clear()

    def on_meeting_apps(self, started: set[str], ended: set[str]) -> None:
        from .notify import notify

        self.meetings_detected = sorted((set(self.meetings_detected) | started) - ended)
        for app in sorted(started):
            log.info("meeting detected", extra={"fields": {"app": app}})
            if self.auto_record and not (self.record_thread and self.record_thread.is_alive()):
                notify(
                    "Recording your meeting",
                    f"{app} is using the microphone; Qylon records until the call ends.",
                )
                self.record_thread = threading.Thread(
                    target=self.record_meeting, args=(app,), daemon=True, name="record"
                )
                self.record_thread.start()
            else:
                notify(
                    "Meeting detected",
                    f"{app} is using the microphone. Record it with `qylon meeting record`.",
                )
        for app in sorted(ended):
            log.info("meeting ended", extra={"fields": {"app": app}})
        if (
            self.auto_recorder is not None
            and self.calendar_event is None  # the calendar's recordings end with their event
            and not self.meetings_detected
        ):
            self.auto_recorder.request_stop("meeting_ended")

    def watch_meetings(self) -> None:
        from ..recording.detect import Watcher

        watcher = Watcher(self.on_meeting_apps)
        threading.Thread(
            target=lambda: (self.stop_event.wait(), watcher.close()), daemon=True
        ).start()
        watcher.run()

    # -- lifecycle ----------------------------------------------------------
    def run(self, *, foreground: bool = False) -> None:
        setup_logging(self.paths, foreground=foreground)
        if not self.lock.acquire(
            {"pid": os.getpid(), "started_at": self.started, "version": __version__}
        ):
            raise AlreadyRunning(
                "The agent is already running for this QYLON_HOME.",
                hint="`qylon agent status` shows it.",
            )
        try:
            requeued = self.queue().requeue_orphans()
            requeued += self.recover_recordings()
            server = control.serve(self.paths.socket, self.routes())
            threading.Thread(target=server.serve_forever, daemon=True, name="control").start()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop_event.set())
            log.info("agent started", extra={"fields": {"pid": os.getpid(), "requeued": requeued}})
            threading.Thread(target=self._warm, daemon=True, name="warm").start()
            threading.Thread(target=self.sync_loop, daemon=True, name="sync").start()
            threading.Thread(target=self.retention_loop, daemon=True, name="retention").start()
            self.sync_wake.set()  # sync once at start
            if self.detect:
                threading.Thread(target=self.watch_meetings, daemon=True, name="detect").start()
            if self.calendar_record:
                threading.Thread(target=self.calendar_loop, daemon=True, name="calendar").start()
            if self.export_dir:
                threading.Thread(target=self.export_loop, daemon=True, name="export").start()
            workers = [
                threading.Thread(target=self.work, name=f"worker-{i}")
                for i in range(self.concurrency)
            ]
            for thread in workers:
                thread.start()
            while not self.stop_event.wait(0.5):
                pass
            if self.auto_recorder is not None:
                self.auto_recorder.request_stop(
                    "signal"
                )  # finalised now, transcribed at the next start
            if self.record_thread is not None:
                self.record_thread.join(timeout=15)
            self.wake.set()
            for thread in workers:
                thread.join(timeout=60)
            server.shutdown()
            server.server_close()
            self.paths.socket.unlink(missing_ok=True)
            log.info("agent stopped")
        finally:
            self.lock.release()
