"""Make audio files for tests with PyAV (no external programs needed)."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

# container suffix -> (format, codec, sample rate)
FORMATS = {
    ".flac": ("flac", "flac", 16000),
    ".mp3": ("mp3", "libmp3lame", 16000),
    ".m4a": ("ipod", "aac", 16000),
    ".ogg": ("ogg", "libopus", 48000),
    ".webm": ("webm", "libopus", 48000),
}


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as fh:
        assert fh.getsampwidth() == 2 and fh.getframerate() == 16000
        return (
            np.frombuffer(fh.readframes(fh.getnframes()), dtype=np.int16).astype(np.float32) / 32768
        )


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000, channels: int = 1) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(channels)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(pcm.tobytes())
    return path


def encode(samples: np.ndarray, path: Path, *, tags: dict | None = None) -> Path:
    """Encode 16 kHz mono float samples into the format named by ``path``'s suffix (with container ``tags``)."""
    fmt, codec, rate = FORMATS[path.suffix]
    with av.open(str(path), "w", format=fmt) as out:
        out.metadata.update(tags or {})
        stream = out.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout="mono", rate=rate
        )
        frame = av.AudioFrame.from_ndarray(
            (samples * 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = 16000
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
