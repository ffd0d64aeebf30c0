"""Capture: PortAudio streams → one interleaved WAV on disk, with meters and watchdogs.

One stream per source (microphone, then system audio), all at one rate. Blocks
from the PortAudio callbacks go through a queue to the capture loop, which lines
the sources up (a loopback source that goes quiet because nothing plays is padded
with silence), appends the frames to the recording as they come and makes them
durable every second. The loop also keeps per-channel levels, warns about silence
and clipping, pauses and resumes, notices a device that vanished (and moves to the
default input), and stops cleanly when the disk fills up.
"""

from __future__ import annotations

import contextlib
import errno
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qylon_cli.errors import Unavailable

from . import devices as devices_mod
from .files import Recording, WavWriter

BLOCK_S = 0.1  # PortAudio block length
STALL_S = 0.3  # a source silent this long is padded with zeros
LOST_S = 2.0  # the microphone silent this long is a lost device
SILENT_DBFS = -60.0
CLIP = 32767


@dataclass
class Status:
    """What the live view shows; refreshed by the capture loop."""

    recorded_s: float = 0.0
    paused: bool = False
    levels_db: list[float] = field(default_factory=list)
    clipping: list[bool] = field(default_factory=list)
    silent_s: float = 0.0
    names: list[str] = field(default_factory=list)
    device_lost: bool = False


@dataclass
class Result:
    seconds: float
    stopped_by: str  # "signal", "key", "max_duration", "disk_full", "disk_error"
    warnings: list[str]


class _Mixer:
    """Line up blocks from several sources into (n, channels) int16 frames."""

    def __init__(self, n: int):
        self.parts: list[list[np.ndarray]] = [[] for _ in range(n)]
        self.sizes = [0] * n
        self.last = [time.monotonic()] * n

    def push(self, i: int, block: np.ndarray) -> None:
        self.parts[i].append(block)
        self.sizes[i] += len(block)
        self.last[i] = time.monotonic()

    def _take(self, i: int, n: int) -> np.ndarray:
        out, need = [], n
        while need:
            head = self.parts[i][0]
            if len(head) <= need:
                out.append(self.parts[i].pop(0))
                need -= len(head)
            else:
                out.append(head[:need])
                self.parts[i][0] = head[need:]
                need = 0
        self.sizes[i] -= n
        return np.concatenate(out) if len(out) > 1 else out[0]

    def pull(self, *, flush: bool = False) -> np.ndarray | None:
        now, target = time.monotonic(), max(self.sizes)
        for i, size in enumerate(self.sizes):
            if size < target and (flush or now - self.last[i] > STALL_S):
                self.push(i, np.zeros(target - size, dtype=np.int16))
                self.last[i] = now - STALL_S - 1  # padding is not a sign of life
        n = min(self.sizes)
        if n == 0:
            return None
        return np.stack([self._take(i, n) for i in range(len(self.sizes))], axis=1)


class Recorder:
    def __init__(
        self,
        rec: Recording,
        sources: list[devices_mod.Source],
        rate: int,
        *,
        max_duration: float | None = None,
        silence_warning_s: float = 30.0,
        on_event: Callable[[str, str], None] = lambda kind, msg: None,
        on_audio: Callable[[np.ndarray], None] | None = None,
        on_tick: Callable[[], None] = lambda: None,
    ):
        self.rec, self.sources, self.rate = rec, list(sources), rate
        self.max_duration = max_duration
        self.silence_warning_s = silence_warning_s
        self.on_event, self.on_audio, self.on_tick = on_event, on_audio, on_tick
        self.status = Status(
            levels_db=[-120.0] * len(sources),
            clipping=[False] * len(sources),
            names=[s.name for s in sources],
        )
        self.queue: queue.Queue = queue.Queue()
        self.streams: list = [None] * len(sources)
        self.warnings: list[str] = []
        self._stop: str | None = None
        self._pause_toggles = 0
        self._lock = threading.Lock()
        self._silent_since = time.monotonic()
        self._silence_warned = False
        self._clip_warned_at = [0.0] * len(sources)
        self._lost_at: float | None = None
        self._retry_at = 0.0
        self._watched_at = 0.0
        self._gone: set[str] = set()

    # -- control (safe from signal handlers and other threads) ---------------
    def request_stop(self, why: str = "signal") -> None:
        self._stop = self._stop or why

    def toggle_pause(self) -> None:
        with self._lock:
            self._pause_toggles += 1

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        self.on_event("warning", message)

    # -- streams -------------------------------------------------------------
    def _open(self, i: int, src: devices_mod.Source):
        sd = devices_mod._sd()

        def callback(indata, frames, time_info, status, i=i):
            self.queue.put(
                (
                    i,
                    indata[:, 0].copy()
                    if indata.shape[1] == 1
                    else indata.mean(axis=1).astype(np.int16),
                )
            )

        extra = None
        if (
            src.hostapi == "Windows WASAPI"
        ):  # shared mode runs at the mixer's rate: let WASAPI convert
            extra = sd.WasapiSettings(auto_convert=True)
        with devices_mod.opening(src):
            stream = sd.InputStream(
                extra_settings=extra,
                device=src.index,
                channels=1,
                samplerate=self.rate,
                dtype="int16",
                blocksize=int(self.rate * BLOCK_S),
                latency="low",
                callback=callback,
            )
            stream.start()
        return stream

    def _close(self, i: int) -> None:
        stream, self.streams[i] = self.streams[i], None
        if stream is not None:
            with contextlib.suppress(
                Exception
            ):  # a vanished device may fail to close; it is gone anyway
                stream.stop()
                stream.close()

    def _device_lost(self) -> None:
        src = self.sources[0]
        self._warn(
            f"No audio from {src.name} for {LOST_S:.0f} s: the device seems gone. What was recorded is kept; trying the default input."
        )
        self.status.device_lost = True
        self._close(0)
        self._lost_at = time.monotonic()
        self._retry_at = 0.0
        self._retry_said = False

    def _retry_default(self) -> None:
        if time.monotonic() < self._retry_at:
            return
        self._retry_at = time.monotonic() + 2.0
        try:
            if len(self.sources) == 1:  # a rescan would end every open stream
                devices_mod.rescan()
            chosen, _ = devices_mod.pick(None, False)
            self.streams[0] = self._open(0, chosen[0])
        except Exception as exc:  # noqa: BLE001 - keep trying; the recording so far is safe
            if not self._retry_said:
                self._retry_said = True
                self.on_event(
                    "info",
                    f"No default input yet ({exc}); trying every 2 s. Ctrl-C stops and keeps what was recorded.",
                )
            return
        self.sources[0] = chosen[0]
        self.status.names[0] = chosen[0].name
        self.status.device_lost = False
        self._lost_at = None
        self.on_event("info", f"Recording again, from {chosen[0].name}.")

    def _watch(self, watch) -> None:
        """Once a second: did a PulseAudio source vanish (the server moves us to its default)?"""
        if watch is None or time.monotonic() - self._watched_at < 1.0:
            return
        self._watched_at = time.monotonic()
        try:
            gone, default = watch.missing([s.pulse_source for s in self.sources if s.pulse_source])
        except Exception:  # noqa: BLE001 - the server itself went away; the stall watchdog handles it
            return
        for ch, src in enumerate(self.sources):
            if src.pulse_source in gone and src.pulse_source not in self._gone:
                self._gone.add(src.pulse_source)
                self._warn(
                    f"{src.name} disappeared at {self.status.recorded_s:.0f} s. What was recorded is kept; "
                    f"the sound server moved this channel to the default input, {default}."
                )
                self.status.names[ch] = f"{default} (was {src.name})"

    # -- the loop --------------------------------------------------------------
    def run(self, writer: WavWriter) -> Result:
        mixer = _Mixer(len(self.sources))
        watch = devices_mod.watch(self.sources)
        for i, src in enumerate(self.sources):
            try:
                self.streams[i] = self._open(i, src)
            except Exception as exc:  # noqa: BLE001 - PortAudio raises its own error types
                for j in range(i):
                    self._close(j)
                raise Unavailable(
                    f"Could not open the input {src.name}: {exc}",
                    hint="`qylon meeting devices` lists the inputs; another program may hold this one.",
                    code="device_unavailable",
                ) from None
        self.on_event("started", f"Recording from {', '.join(s.name for s in self.sources)}.")
        try:
            while True:
                if self._stop:
                    break
                self._apply_pauses(writer)
                self._drain(mixer, timeout=0.05)
                if not self._write(mixer, writer, flush=False):
                    break
                if (
                    self._lost_at is None
                    and self.streams[0] is not None
                    and time.monotonic() - mixer.last[0] > LOST_S
                ):
                    self._device_lost()
                if self._lost_at is not None:
                    self._retry_default()
                self._watch(watch)
                if self.max_duration and writer.seconds >= self.max_duration:
                    self.request_stop("max_duration")
                self.on_tick()
        finally:
            for i in range(len(self.streams)):
                self._close(i)
            if watch is not None:
                watch.close()
        # Whatever the callbacks delivered before the streams stopped is written too.
        self._drain(mixer, timeout=0)
        if self._stop not in ("disk_full", "disk_error"):
            self._write(mixer, writer, flush=True)
        return Result(round(writer.seconds, 3), self._stop or "signal", self.warnings)

    def _drain(self, mixer: _Mixer, timeout: float) -> None:
        try:
            item = self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
            while True:
                mixer.push(*item)
                item = self.queue.get_nowait()
        except queue.Empty:
            pass

    def _apply_pauses(self, writer: WavWriter) -> None:
        with self._lock:
            toggles, self._pause_toggles = self._pause_toggles, 0
        for _ in range(toggles):
            self.status.paused = not self.status.paused
            pauses = self.rec.meta.get("pauses", [])
            if self.status.paused:
                pauses.append(
                    {"at_s": round(writer.seconds, 3), "paused_at": time.time(), "resumed_at": None}
                )
                self.on_event(
                    "paused",
                    f"Paused at {writer.seconds:.0f} s; nothing is recorded until you resume.",
                )
            else:
                if pauses:
                    pauses[-1]["resumed_at"] = time.time()
                self._silent_since = time.monotonic()
                self.on_event("resumed", "Recording again.")
            self.rec.update(pauses=pauses, paused=self.status.paused)

    def _write(self, mixer: _Mixer, writer: WavWriter, *, flush: bool) -> bool:
        frames = mixer.pull(flush=flush)
        if frames is None:
            return True
        if self.max_duration:
            frames = frames[: max(0, int(self.max_duration * self.rate) - writer.frames)]
        if not len(frames):
            return True
        if "started_at" not in self.rec.meta:
            # The wall clock of the first sample: a sound server can take a while to deliver
            # after the stream opens, and timestamps and recovery count from here.
            self.rec.update(started_at=time.time() - len(frames) / self.rate)
        self._meter(frames)
        if self.status.paused:
            return True
        try:
            writer.write(frames.tobytes())
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            self.request_stop("disk_full" if full else "disk_error")
            self._warn(
                ("The disk is full" if full else f"Writing the recording failed ({exc.strerror})")
                + f": recording stopped at {writer.seconds:.1f} s; everything up to there is kept."
            )
            return False
        self.status.recorded_s = writer.seconds
        if self.on_audio is not None:
            self.on_audio(frames)
        return True

    def _meter(self, frames: np.ndarray) -> None:
        now = time.monotonic()
        as_float = frames.astype(np.float32) / 32768.0
        rms = np.sqrt(np.mean(np.square(as_float), axis=0)) + 1e-9
        levels = (20 * np.log10(rms)).tolist()
        self.status.levels_db = [round(max(level, -120.0), 1) for level in levels]
        clipped = (np.abs(frames.astype(np.int32)) >= CLIP).sum(axis=0)
        for ch, count in enumerate(clipped.tolist()):
            self.status.clipping[ch] = count > 0
            if count and now - self._clip_warned_at[ch] > 10:
                self._clip_warned_at[ch] = now
                self._warn(f"{self.status.names[ch]} is clipping (too loud): lower its input gain.")
        if self.status.paused or max(levels) > SILENT_DBFS:
            self._silent_since, self._silence_warned = now, False
        self.status.silent_s = now - self._silent_since
        if self.status.silent_s >= self.silence_warning_s and not self._silence_warned:
            self._silence_warned = True
            self._warn(
                f"The input has been silent for {self.status.silent_s:.0f} s: is the microphone muted or the wrong device?"
                " (`qylon meeting devices` lists them)"
            )


def capture(
    rec: Recording,
    sources: list[devices_mod.Source],
    rate: int,
    *,
    settings,
    max_duration: float | None = None,
    on_event: Callable[[str, str], None] = lambda kind, msg: None,
    on_audio: Callable[[np.ndarray], None] | None = None,
    on_tick: Callable[[], None] = lambda: None,
    around: Callable[[Recorder], contextlib.AbstractContextManager] = lambda recorder: (
        contextlib.nullcontext()
    ),
    on_start: Callable[[Recorder], None] = lambda recorder: None,
) -> Result:
    """Record ``sources`` into ``rec`` until stopped; leave it finalised (or removed when empty).

    ``around(recorder)`` wraps the loop (the CLI's signal handlers and live view);
    ``on_start(recorder)`` hands the recorder out so another thread can stop it.
    """
    import shutil

    from qylon_cli.errors import QylonError

    recorder = Recorder(
        rec,
        sources,
        rate,
        max_duration=max_duration,
        silence_warning_s=float(settings.get("record.silence_warning_s", 30)),
        on_event=on_event,
        on_audio=on_audio,
        on_tick=on_tick,
    )
    on_start(recorder)
    writer = rec.writer(rate, len(sources))
    try:
        with around(recorder):
            result = recorder.run(writer)
    finally:
        rec.release_reserve()
        writer.close()
        if not writer.frames:  # nothing to keep: leave no folder behind (nor its key)
            rec.unlock()
            shutil.rmtree(rec.folder, ignore_errors=True)
            if rec.meta.get("sealed"):
                from ..crypto import keys

                keys.Keys.load_or_create().drop(keys.meeting_key_name(rec.id))
    if not writer.frames:
        raise QylonError(
            f"Nothing was recorded ({result.stopped_by}).",
            hint="Check the input with `qylon meeting devices`.",
            code="nothing_recorded",
        )
    result.seconds = round(writer.seconds, 3)  # what the finalised file holds
    rec.update(
        state="finalised",
        duration_s=result.seconds,
        stopped_by=result.stopped_by,
        warnings=result.warnings,
    )
    rec.unlock()
    return result
