"""The live transcript (`meeting record --live`): the bundled model on the audio as it comes.

The capture loop hands over every block it wrote; a worker thread resamples it to
16 kHz mono, cuts it into windows that end in a pause (or at most ``WINDOW_S``
long) and transcribes each one. Lines are for watching only: the stored meeting
comes from the whole, finalised file once recording stops.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np

from ..speech.audio import SAMPLE_RATE

WINDOW_S = 8.0
MIN_S = 3.0
PAUSE_S = 0.6
PAUSE_RMS = 10 ** (-45 / 20)


class LiveTranscriber:
    def __init__(self, rate: int, opts, on_line: Callable[[float, str], None], *, settings=None):
        self.rate, self.opts, self.settings, self.on_line = rate, opts, settings, on_line
        self.queue: queue.Queue = queue.Queue()
        self.buffer = np.zeros(0, dtype=np.float32)
        self.offset_s = 0.0
        self.thread = threading.Thread(target=self._run, name="qylon-live-transcript", daemon=True)
        self.thread.start()

    def feed(self, frames: np.ndarray) -> None:
        self.queue.put(frames.copy())

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _resample(self, frames: np.ndarray) -> np.ndarray:
        mono = frames.astype(np.float32).mean(axis=1) / 32768.0
        if self.rate == SAMPLE_RATE:
            return mono
        n_out = round(len(mono) * SAMPLE_RATE / self.rate)
        positions = np.arange(n_out) * (self.rate / SAMPLE_RATE)
        return np.interp(positions, np.arange(len(mono)), mono).astype(np.float32)

    def _cut(self) -> int:
        """Where to end the next window, or 0 to wait for more audio."""
        n = len(self.buffer)
        if n >= WINDOW_S * SAMPLE_RATE:
            return n
        if n < MIN_S * SAMPLE_RATE:
            return 0
        tail = self.buffer[-int(PAUSE_S * SAMPLE_RATE) :]
        return n if float(np.sqrt(np.mean(np.square(tail)))) < PAUSE_RMS else 0

    def _run(self) -> None:
        from ..speech import transcribe as stt

        try:
            model = stt.load_model(self.opts, self.settings)
        except Exception as exc:  # noqa: BLE001 - the live view is a nicety; recording goes on
            self.on_line(0.0, f"(live transcript unavailable: {exc})")
            return
        while True:
            frames = self.queue.get()
            final = frames is None
            if not final:
                self.buffer = np.concatenate([self.buffer, self._resample(frames)])
                while not self.queue.empty() and len(self.buffer) < WINDOW_S * SAMPLE_RATE:
                    more = self.queue.get()
                    if more is None:
                        final = True
                        break
                    self.buffer = np.concatenate([self.buffer, self._resample(more)])
            cut = len(self.buffer) if final else self._cut()
            if cut:
                window, self.buffer = self.buffer[:cut], self.buffer[cut:]
                segments, _ = model.transcribe(
                    window,
                    language="en" if not model.model.is_multilingual else self.opts.language,
                    beam_size=1,
                    vad_filter=True,
                    condition_on_previous_text=False,
                )
                for seg in segments:
                    if seg.text.strip() and seg.no_speech_prob < 0.6:
                        self.on_line(self.offset_s + seg.start, seg.text.strip())
                self.offset_s += cut / SAMPLE_RATE
            if final:
                return
