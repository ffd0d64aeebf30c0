"""Decode any audio file to 16 kHz mono float32 (PyAV, as faster-whisper does), strictly.

Unlike a lenient decoder this refuses what it cannot trust, naming the file:
missing, empty, not audio, truncated (declared longer than what is there) or
corrupt (frames that fail to decode). A file that decodes but holds no speech
is caught later, after voice activity detection.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qylon_cli.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16000
# How much shorter than its header says a file may decode before we call it truncated.
# Headers give exact lengths (WAV, FLAC, MP4, WebM, Ogg) except MP3's, which is an
# estimate from the bit rate unless the encoder wrote a Xing header.
TRUNCATION_TOLERANCE = 0.005
ESTIMATED_TOLERANCE = 0.03


@dataclass
class Audio:
    path: Path
    samples: np.ndarray  # mono float32 at SAMPLE_RATE
    channels: (
        np.ndarray | None
    )  # (n_channels, n) float32 at SAMPLE_RATE, when the file has 2+ channels
    original_rate: int
    original_channels: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _bad(path: Path, what: str, hint: str | None = None) -> InvalidInput:
    return InvalidInput(f"{path}: {what}", hint=hint, code="invalid_audio")


def check_file(path: Path) -> None:
    if not path.exists():
        raise InvalidInput(f"{path}: no such file.", code="file_not_found")
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder, not an audio file.", code="invalid_audio")
    if path.stat().st_size == 0:
        raise _bad(path, "the file is empty (0 bytes).")


def _wav_declared_bytes(path: Path) -> tuple[int, int] | None:
    """(declared data bytes, data bytes present) for a RIFF/WAVE file, else None.

    A header still being written (size 0 or 0xFFFFFFFF, as a recorder leaves it
    until it closes the file) declares nothing.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):
                    return None
                return chunk_size, size - offset - 8
            offset += 8 + chunk_size + (chunk_size & 1)
    return None


def _ogg_complete(path: Path) -> bool | None:
    """Whether an Ogg file ends with a whole end-of-stream page (None if not Ogg)."""
    with path.open("rb") as fh:
        if fh.read(4) != b"OggS":
            return None
        size = path.stat().st_size
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    pos = tail.rfind(b"OggS")
    if pos < 0 or len(tail) - pos < 27:
        return False
    header_type = tail[pos + 5]
    n_segments = tail[pos + 26]
    lacing = tail[pos + 27 : pos + 27 + n_segments]
    page_len = 27 + n_segments + sum(lacing)
    return bool(header_type & 0x04) and len(lacing) == n_segments and len(tail) - pos >= page_len


def decode(path: Path | str, *, keep_channels: bool = True) -> Audio:
    """Decode ``path`` to 16 kHz float32, refusing files that are not whole, valid audio."""
    path = Path(path)
    check_file(path)
    from ..crypto import stream

    if stream.is_sealed_file(path):  # a sealed recording: decrypted in memory, never to disk
        return _decode(path, stream.open_recording(path), keep_channels)
    declared_wav = _wav_declared_bytes(path)
    if declared_wav and declared_wav[1] < declared_wav[0]:
        raise _bad(
            path,
            f"the file is truncated: its header declares {declared_wav[0]} bytes of audio but only "
            f"{declared_wav[1]} are there.",
            hint="If this is an interrupted recording, `qylon meeting recover` repairs it.",
        )
    if _ogg_complete(path) is False:
        raise _bad(path, "the file is truncated: the Ogg stream has no end.")
    return _decode(path, str(path), keep_channels)


def _decode(path: Path, source, keep_channels: bool) -> Audio:
    import av
    import numpy as np

    try:
        container = av.open(source, mode="r", metadata_errors="ignore")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise _bad(
            path, "not an audio file, or a damaged one.", hint=f"The decoder said: {exc}"
        ) from None
    with container:
        if not container.streams.audio:
            raise _bad(path, "the file has no audio stream.")
        stream = container.streams.audio[0]
        declared = None
        if stream.duration and stream.time_base:
            declared = float(stream.duration * stream.time_base)
        elif container.duration:
            declared = container.duration / 1_000_000
        n_channels = stream.codec_context.channels or 1
        original_rate = stream.codec_context.sample_rate or SAMPLE_RATE
        layout = "stereo" if keep_channels and n_channels >= 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        errors = 0
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except av.error.InvalidDataError:
                errors += 1
                continue
            except av.error.FFmpegError as exc:
                raise _bad(path, f"the audio could not be decoded ({exc}).") from None
            frame.pts = None
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if errors:
        raise _bad(path, f"the file is corrupt: {errors} block(s) of audio failed to decode.")
    if not chunks:
        raise _bad(path, "the file holds no audio samples.")
    planar = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    decoded = planar.shape[1] / SAMPLE_RATE
    tolerance = ESTIMATED_TOLERANCE if "mp3" in container.format.name else TRUNCATION_TOLERANCE
    if declared and declared > 0.5 and decoded < declared * (1 - tolerance):
        raise _bad(
            path,
            f"the file is truncated: it declares {declared:.1f} s of audio but only {decoded:.1f} s decode.",
        )
    if planar.shape[0] >= 2:
        mono = planar.mean(axis=0).astype(np.float32)
        channels = planar
    else:
        mono, channels = planar[0], None
    return Audio(path, np.ascontiguousarray(mono), channels, original_rate, n_channels)
