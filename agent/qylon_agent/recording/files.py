"""The crash-safe on-disk form of a recording: a folder with a growing WAV and a manifest.

``recordings/<id>/audio.wav`` is 16-bit PCM at the device's own rate, one channel
per source (channel 0 the microphone, channel 1 the system audio). While it is being
written its header declares "size unknown" (0xFFFFFFFF, as streaming recorders do)
and every block is appended as it arrives and fsync'ed at least once a second, so a
SIGKILL or a power cut loses at most the last second. Finalising (on a clean stop, or
later in ``qylon meeting recover``) cuts the file to whole frames and writes the real
sizes into the header.

``recordings/<id>/recording.json`` (replaced atomically) says what the folder holds:
state ``recording`` → ``finalised`` → ``done`` (stored as a meeting), or ``empty``.
While a recorder runs it holds a lock on ``recording.lock`` (``qylon_agent.locks``); the
operating system drops the lock when the process dies, which is how an interrupted recording is told from a
live one.
"""

from __future__ import annotations

import json
import os
import struct
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from qylon_cli import paths

from ..locks import ProcessLock
from ..store import ids

HEADER_BYTES = 44
UNKNOWN = 0xFFFFFFFF
MANIFEST = "recording.json"
AUDIO = "audio.wav"
SEALED_AUDIO = "audio.sealed"  # with privacy.encrypt: a sealed stream (crypto.stream)
PRIVATE_META = ("title", "client", "date_given")  # sealed in the manifest with privacy.encrypt
LOCK = "recording.lock"
RESERVE = "disk.reserve"
RESERVE_BYTES = 256 * 1024  # freed when the disk fills, so the file can still be finalised


def root(settings=None) -> Path:
    """Where recordings live: ``record.dir`` if set, else ``QYLON_HOME/recordings``."""
    configured = settings.get("record.dir") if settings is not None else None
    folder = Path(os.path.expanduser(configured)) if configured else paths.home() / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wav_header(rate: int, channels: int, data_bytes: int | None) -> bytes:
    """A canonical 44-byte PCM WAV header; ``None`` declares the size unknown."""
    block = channels * 2
    riff = UNKNOWN if data_bytes is None else min(36 + data_bytes, UNKNOWN)
    data = UNKNOWN if data_bytes is None else data_bytes
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        riff,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        rate,
        rate * block,
        block,
        16,
        b"data",
        data,
    )


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WavWriter:
    """Append interleaved int16 frames; make them durable at least every ``sync_every`` s."""

    def __init__(self, path: Path, rate: int, channels: int, *, sync_every: float = 1.0):
        self.path, self.rate, self.channels = path, rate, channels
        self.block = channels * 2
        self.sync_every = sync_every
        self.fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
        )
        os.write(self.fd, wav_header(rate, channels, None))
        os.fsync(self.fd)
        _fsync_dir(path.parent)
        self.frames = 0
        self._synced_at = time.monotonic()

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def write(self, pcm: bytes) -> None:
        """Write whole frames (raises OSError, e.g. ENOSPC, leaving the file repairable)."""
        view = memoryview(pcm)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.frames += len(pcm) // self.block
        if time.monotonic() - self._synced_at >= self.sync_every:
            self.sync()

    def sync(self) -> None:
        os.fsync(self.fd)
        self._synced_at = time.monotonic()

    def close(self) -> None:
        """Finalise: real sizes in the header, cut to whole frames, fsync'ed."""
        if self.fd < 0:
            return
        try:
            os.fsync(self.fd)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1
        self.frames = finalise_wav(self.path).frames


@dataclass
class WavInfo:
    rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def finalise_wav(path: Path) -> WavInfo:
    """Repair a recorder's WAV in place: drop a torn last frame, write the true sizes."""
    with path.open("r+b") as fh:
        head = fh.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or head[:4] != b"RIFF" or head[36:40] != b"data":
            raise ValueError(f"{path}: not a Qylon recording (no PCM WAV header).")
        channels, rate = struct.unpack("<HI", head[22:28])
        block = channels * 2
        size = os.fstat(fh.fileno()).st_size
        data = (size - HEADER_BYTES) // block * block
        if HEADER_BYTES + data != size:
            fh.truncate(HEADER_BYTES + data)
        fh.seek(0)
        fh.write(wav_header(rate, channels, data))
        fh.flush()
        os.fsync(fh.fileno())
    return WavInfo(rate, channels, data // block)


def finalise_audio(path: Path):
    """Finalise a recorder's file, plain WAV or sealed stream; its ``frames`` and ``seconds``."""
    from ..crypto import stream

    if path.name == SEALED_AUDIO:
        return stream.finalise(path)
    return finalise_wav(path)


# -- the folder ---------------------------------------------------------------
class Recording:
    """One recording folder and its manifest."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.id = folder.name
        self.meta: dict = {}
        self._sealed_meta: str | None = None  # kept as it is when this install cannot open it
        if (folder / MANIFEST).exists():
            self.meta = json.loads((folder / MANIFEST).read_text("utf-8"))
            if "sealed_meta" in self.meta:
                self._unseal_meta(self.meta.pop("sealed_meta"))
        self._lock = ProcessLock(folder / LOCK)

    @classmethod
    def create(cls, base: Path, **meta) -> Recording:
        rec_id = str(uuid.uuid4())
        folder = base / rec_id
        folder.mkdir(parents=True)
        rec = cls(folder)
        rec.lock()
        from ..crypto import keys

        if keys.enabled():
            meta["sealed"] = True
        rec.update(id=rec_id, state="recording", pid=os.getpid(), created_at=time.time(), **meta)
        try:
            with (folder / RESERVE).open("wb") as fh:
                fh.write(b"\0" * RESERVE_BYTES)
                os.fsync(fh.fileno())
        except OSError:
            (folder / RESERVE).unlink(missing_ok=True)
        return rec

    def release_reserve(self) -> None:
        (self.folder / RESERVE).unlink(missing_ok=True)

    @property
    def audio(self) -> Path:
        return self.folder / (SEALED_AUDIO if self.meta.get("sealed") else AUDIO)

    def writer(self, rate: int, channels: int):
        """The file the recorder appends to: a growing WAV, or a sealed stream whose every
        chunk is sealed with this meeting's data key."""
        if not self.meta.get("sealed"):
            return WavWriter(self.audio, rate, channels)
        from ..crypto import stream

        return stream.SealedWriter(self.audio, rate, channels, *self._data_key())

    @property
    def state(self) -> str:
        return self.meta.get("state", "recording")

    def _data_key(self) -> tuple[bytes, bytes]:
        from ..crypto import keys

        return keys.Keys.load_or_create().data_key(keys.meeting_key_name(self.id), create=True)

    def _unseal_meta(self, blob: str) -> None:
        import base64

        from qylon_cli.errors import QylonError

        from ..crypto import container, keys

        found = keys.Keys.load()
        try:
            if found is None:
                raise container.Undecryptable("no keys")
            key = found.data_key(keys.meeting_key_name(self.id))[1]
            plain = container.open_sealed(key, base64.b64decode(blob), f"manifest:{self.id}")
        except QylonError:
            self._sealed_meta = blob
            return
        self.meta.update(json.loads(plain))

    def _manifest(self) -> dict:
        """What recording.json holds: with encryption, the title and client sealed."""
        if not self.meta.get("sealed"):
            return self.meta
        import base64

        from ..crypto import container

        doc = {k: v for k, v in self.meta.items() if k not in PRIVATE_META}
        private = {k: self.meta[k] for k in PRIVATE_META if k in self.meta}
        if self._sealed_meta is not None:
            doc["sealed_meta"] = self._sealed_meta
        elif private:
            key_id, key = self._data_key()
            blob = container.seal(key, key_id, json.dumps(private).encode(), f"manifest:{self.id}")
            doc["sealed_meta"] = base64.b64encode(blob).decode()
        return doc

    def update(self, **changes) -> None:
        """Change the manifest atomically (write a temporary file, fsync, rename)."""
        self.meta.update(changes)
        tmp = self.folder / (MANIFEST + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(self._manifest(), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.folder / MANIFEST)
        _fsync_dir(self.folder)

    # A lock the operating system releases when the process dies, however it dies.
    def lock(self) -> bool:
        return self._lock.acquire()

    def unlock(self) -> None:
        self._lock.release()

    def is_live(self) -> bool:
        """True when another process is recording into this folder right now."""
        return self._lock.held_elsewhere()

    def needs_recovery(self) -> bool:
        if self.state == "recording":
            return not self.is_live()
        return (
            self.state == "finalised"
            and bool(self.meta.get("transcribe"))
            and not self.meta.get("meeting_id")
        )

    def summary(self) -> dict:
        keys = (
            "id",
            "state",
            "title",
            "client",
            "rate",
            "channels",
            "sources",
            "meeting_id",
            "stopped_by",
            "recovered",
        )
        info = {k: self.meta.get(k) for k in keys}
        info["warnings"] = self.meta.get("warnings", [])
        info["started_at"] = self.meta.get("started_at")
        info["duration_s"] = self.meta.get("duration_s")
        info["audio_path"] = str(self.audio)
        return info


def all_recordings(base: Path) -> list[Recording]:
    found = []
    for folder in sorted(base.iterdir()) if base.exists() else []:
        if folder.is_dir() and (folder / MANIFEST).exists():
            try:
                found.append(Recording(folder))
            except (OSError, ValueError):
                continue  # a manifest torn by a crash mid-create: nothing to recover in it
    return sorted(found, key=lambda r: r.meta.get("created_at") or 0)


def pending(base: Path) -> list[Recording]:
    """Recordings that were interrupted (or never transcribed as asked)."""
    return [r for r in all_recordings(base) if r.needs_recovery()]


def get(base: Path, ref: str) -> Recording:
    found = {r.id: r for r in all_recordings(base)}
    rec_id = ids.resolve(
        ref,
        lambda prefix: [i for i in found if i.startswith(prefix)][:2],
        what="recording",
        hint="`qylon meeting recover --json` lists them.",
    )
    return found[rec_id]
