"""Speaker embeddings: Resemblyzer's GE2E encoder run in NumPy (no PyTorch).

The weights ship in ``voice_encoder/ge2e.npz`` (Apache-2.0; see the README
there for their origin). The mel front end and the network reproduce
resemblyzer 0.1.4 exactly (scripts/convert_voice_encoder.py --verify checks
it): power mel spectrogram, 25 ms Hann windows every 10 ms, 40 bands; LSTM
3 x 256, linear 256, ReLU, L2 norm. An embedding is a unit vector of 256
non-negative floats; cosine similarity is a dot product.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
HOP = 160  # 10 ms
N_FFT = 400  # 25 ms
PARTIAL_FRAMES = 160  # 1.6 s, the encoder's training window
TARGET_DBFS = -30.0
WEIGHTS = Path(__file__).with_name("voice_encoder") / "ge2e.npz"


def normalize_volume(
    wav: np.ndarray, *, target_dbfs: float = TARGET_DBFS, increase_only: bool = False
) -> np.ndarray:
    """Scale ``wav`` so its RMS is ``target_dbfs`` (as resemblyzer.audio.normalize_volume)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if len(wav) else 0.0
    if rms <= 1e-9:
        return wav
    change = target_dbfs - 20 * np.log10(rms)
    if change < 0 and increase_only:
        return wav
    return (wav * (10 ** (change / 20))).astype(np.float32)


def mel_frames(wav: np.ndarray, mel_basis: np.ndarray) -> np.ndarray:
    """(n_frames, 40) power mel spectrogram, frame i centred on sample i * HOP (librosa, centre=True)."""
    wav = np.asarray(wav, dtype=np.float32)
    padded = np.pad(wav, (N_FFT // 2, N_FFT // 2))
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, N_FFT), strides=(padded.strides[0] * HOP, padded.strides[0])
    )
    out = np.empty((n_frames, mel_basis.shape[0]), dtype=np.float32)
    for start in range(0, n_frames, 4096):  # bounded memory on long recordings
        spec = np.fft.rfft(frames[start : start + 4096] * window, axis=1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        out[start : start + 4096] = power @ mel_basis.T
    return out


class VoiceEncoder:
    """The GE2E encoder. ``embed_mels`` takes a batch of equal-length mel windows."""

    def __init__(self, weights: Path | str = WEIGHTS):
        with np.load(weights) as npz:
            # PyTorch stores the gates as (input, forget, cell, output); reorder them to
            # (input, forget, output, cell) so the three sigmoid gates are one slice.
            order = np.r_[0:512, 768:1024, 512:768]
            self.layers = [
                (
                    np.ascontiguousarray(npz[f"lstm_weight_ih_l{i}"][order].T),
                    np.ascontiguousarray(npz[f"lstm_weight_hh_l{i}"][order].T),
                    (npz[f"lstm_bias_ih_l{i}"] + npz[f"lstm_bias_hh_l{i}"])[order],
                )
                for i in range(3)
            ]
            self.linear_w = np.ascontiguousarray(npz["linear_weight"].T)
            self.linear_b = npz["linear_bias"]
            self.mel_basis = npz["mel_basis"]

    def mels(self, wav: np.ndarray) -> np.ndarray:
        return mel_frames(wav, self.mel_basis)

    def embed_mels(self, mels: np.ndarray, batch: int = 64) -> np.ndarray:
        """(B, T, 40) mel windows -> (B, 256) unit embeddings."""
        mels = np.asarray(mels, dtype=np.float32)
        return (
            np.concatenate([self._forward(mels[i : i + batch]) for i in range(0, len(mels), batch)])
            if len(mels)
            else (np.zeros((0, 256), dtype=np.float32))
        )

    def _forward(self, x: np.ndarray) -> np.ndarray:
        b, t, _ = x.shape
        seq = x
        for w_ih, w_hh, bias in self.layers:
            hidden = w_hh.shape[0]
            pre = (seq.reshape(b * t, -1) @ w_ih + bias).reshape(b, t, 4 * hidden)
            h = np.zeros((b, hidden), dtype=np.float32)
            c = np.zeros((b, hidden), dtype=np.float32)
            gates = np.empty((b, 4 * hidden), dtype=np.float32)
            outs = np.empty((b, t, hidden), dtype=np.float32)
            sig, cell = gates[:, : 3 * hidden], gates[:, 3 * hidden :]
            for step in range(t):
                np.matmul(h, w_hh, out=gates)
                gates += pre[:, step]
                # sigmoid(x) = (tanh(x / 2) + 1) / 2, in place on the input, forget and output gates
                sig *= 0.5
                np.tanh(sig, out=sig)
                sig += 1.0
                sig *= 0.5
                np.tanh(cell, out=cell)
                c *= gates[:, hidden : 2 * hidden]
                c += gates[:, :hidden] * cell
                np.tanh(c, out=h)
                h *= gates[:, 2 * hidden : 3 * hidden]
                outs[:, step] = h
            seq = outs
        raw = np.maximum(h @ self.linear_w + self.linear_b, 0.0)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)

    def embed_utterance(
        self, wav: np.ndarray, rate: float = 1.3, min_coverage: float = 0.75
    ) -> np.ndarray:
        """One embedding for a whole utterance (resemblyzer's embed_utterance: mean of 1.6 s partials)."""
        n_frames = int(np.ceil((len(wav) + 1) / HOP))
        step = max(1, round((SAMPLE_RATE / rate) / HOP))
        starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
        coverage = (len(wav) - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
        if coverage < min_coverage and len(starts) > 1:
            starts = starts[:-1]
        needed = (starts[-1] + PARTIAL_FRAMES) * HOP
        if needed >= len(wav):
            wav = np.pad(wav, (0, needed - len(wav)))
        mel = self.mels(wav)
        partials = self.embed_mels(np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts]))
        return unit(partials.mean(axis=0))


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-9)


@lru_cache(maxsize=1)
def encoder() -> VoiceEncoder:
    """The shipped encoder, loaded once per process."""
    return VoiceEncoder()
