"""Sealed audio: a recording as a stream of chunks, each sealed on its own.

The file is a container header of kind 2 (stream) naming the meeting's data key, the
stream's parameters, then one record per chunk the recorder flushed::

    header   22 bytes  b"QYLN", version 1, kind 2, the data key's id (see ``container``)
    length   2 bytes   little-endian length of the parameters
    params   JSON      {"rate": 48000, "channels": 1, "sample": "s16le"}
    records  each:     length (4 bytes, little-endian, of the sealed part), a 12-byte
                       random nonce, the sealed PCM (AES-256-GCM ciphertext + 16-byte tag)

Each record is authenticated with the file's header and parameters and its own index
as associated data: records cannot be reordered, dropped from the middle, or moved to
another file. A record cut short by a crash (SIGKILL, power loss) is the only damage a
crash can leave; it is dropped when the stream is finalised, so at most the last chunk
(under a second) is lost, as with the plain WAV.
"""

from __future__ import annotations

import io
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from . import container

RECORD = struct.Struct("<I12s")


def _index(i: int) -> bytes:
    return struct.pack("<Q", i)


def stream_header(key_id: bytes, rate: int, channels: int) -> bytes:
    params = json.dumps({"rate": rate, "channels": channels, "sample": "s16le"}).encode()
    return container.header(container.STREAM, key_id) + struct.pack("<H", len(params)) + params


@dataclass
class StreamInfo:
    key_id: bytes
    rate: int
    channels: int
    header_bytes: bytes
    records: list[tuple[int, int]]  # (offset of the sealed part, its length)
    end: int  # where the last whole record ends

    @property
    def frames(self) -> int:
        return sum(n - container.TAG_BYTES for _, n in self.records) // (2 * self.channels)

    @property
    def seconds(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def is_sealed_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return container.is_sealed(fh.read(4))
    except OSError:
        return False


def scan(path: Path) -> StreamInfo:
    """The stream's parameters and whole records (no key needed)."""
    data_size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(container.HEADER.size + 2)
        kind, key_id = container.parse_header(head, str(path))
        if kind != container.STREAM:
            raise container.Undecryptable(f"{path} is not a sealed recording.")
        (n,) = struct.unpack("<H", head[container.HEADER.size :])
        raw = fh.read(n)
        params = json.loads(raw)
        offset = container.HEADER.size + 2 + n
        records = []
        while offset + RECORD.size <= data_size:
            fh.seek(offset)
            length, _ = RECORD.unpack(fh.read(RECORD.size))
            if offset + RECORD.size + length > data_size:
                break  # torn by a crash
            records.append((offset + 4, length))
            offset += RECORD.size + length
    return StreamInfo(key_id, params["rate"], params["channels"], head + raw, records, offset)


class SealedWriter:
    """``WavWriter``'s interface over a sealed stream: every write is one sealed record,
    appended at once; fsync'ed at least every ``sync_every`` seconds."""

    def __init__(
        self,
        path: Path,
        rate: int,
        channels: int,
        key_id: bytes,
        key: bytes,
        *,
        sync_every: float = 1.0,
    ):
        import time

        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.path, self.rate, self.channels = path, rate, channels
        self.block = channels * 2
        self.sync_every = sync_every
        self._aead = AESGCM(key)
        self._head = stream_header(key_id, rate, channels)
        self._count = 0
        self.fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
        )
        os.write(self.fd, self._head)
        os.fsync(self.fd)
        self.frames = 0
        self._clock = time.monotonic
        self._synced_at = self._clock()

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def write(self, pcm: bytes) -> None:
        nonce = os.urandom(container.NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, pcm, self._head + _index(self._count))
        view = memoryview(RECORD.pack(len(sealed), nonce) + sealed)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self._count += 1
        self.frames += len(pcm) // self.block
        if self._clock() - self._synced_at >= self.sync_every:
            self.sync()

    def sync(self) -> None:
        os.fsync(self.fd)
        self._synced_at = self._clock()

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            os.fsync(self.fd)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1
        self.frames = finalise(self.path).frames


def finalise(path: Path) -> StreamInfo:
    """Cut a torn last record (what a crash leaves); no key needed."""
    info = scan(path)
    if info.end != os.path.getsize(path):
        with open(path, "r+b") as fh:
            fh.truncate(info.end)
            os.fsync(fh.fileno())
    return info


def read_pcm(path: Path, key: bytes) -> tuple[StreamInfo, bytes]:
    """The interleaved int16 PCM of a sealed recording, decrypted in memory."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    info = scan(path)
    aead = AESGCM(key)
    out = bytearray()
    with open(path, "rb") as fh:
        for i, (offset, length) in enumerate(info.records):
            fh.seek(offset)
            nonce = fh.read(container.NONCE_BYTES)
            try:
                out += aead.decrypt(nonce, fh.read(length), info.header_bytes + _index(i))
            except InvalidTag:
                raise container.Undecryptable(
                    f"{path}: chunk {i} cannot be opened (wrong key, or the file was changed)."
                ) from None
    return info, bytes(out)


def as_wav(path: Path, key: bytes) -> io.BytesIO:
    """The recording as an in-memory WAV file (for a decoder); nothing is written to disk."""
    import wave

    info, pcm = read_pcm(path, key)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as fh:
        fh.setnchannels(info.channels)
        fh.setsampwidth(2)
        fh.setframerate(info.rate)
        fh.writeframes(pcm)
    buffer.seek(0)
    return buffer


def open_recording(path: Path) -> io.BytesIO:
    """A sealed recording as an in-memory WAV, with the data key that sealed it."""
    from .keys import Keys

    keys = Keys.load()
    if keys is None:
        raise container.Undecryptable(
            f"{path} is sealed, and this install has no keys (keys.json is missing).",
            hint="Restore QYLON_HOME/keys.json from a backup and import the install key.",
            code="key_destroyed",
        )
    return as_wav(path, keys.find_key(scan(path).key_id))
