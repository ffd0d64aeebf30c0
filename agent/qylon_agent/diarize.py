"""Who spoke when, offline: voice activity, speaker embeddings, clustering.

1. Speech regions from the Silero VAD model that ships inside faster-whisper.
2. Each speech region is cut into 1.6 s windows every ``hop_s`` (a shorter region
   is one window, tiled to 1.6 s); each window gets a GE2E embedding
   (``embeddings.py``, NumPy), the file's speech scaled to -30 dBFS first.
3. One voice if the windows are all alike (mean similarity over a calibrated
   threshold), else spectral clustering whose eigengap gives the number of
   speakers (``spectral.py``; ``num_speakers`` / ``min_speakers`` /
   ``max_speakers`` bound it); windows then move to the nearest cluster centre
   and clusters of a stray window or two are folded in.
4. Every 10 ms speech frame takes the speaker of the nearest window centre in its
   own speech region; runs of frames become turns, and a speaker's short pauses
   are bridged.

Two-channel recordings (microphone on channel 0, system audio on channel 1, as
``qylon meeting record`` writes them) add evidence: a window much louder on one
channel cannot share a speaker with a window much louder on the other, and the
speaker heard mostly on the microphone is the local user.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from .audio import SAMPLE_RATE, Audio
from .embeddings import PARTIAL_FRAMES, encoder, unit

FRAME_S = 0.01
# Windows whose mean pairwise cosine similarity reaches this are one voice (one speaker,
# not two). Calibrated (docs/speakers.md): one voice 0.79-0.83, two or more 0.64-0.73.
ONE_VOICE_SIM = 0.76
# A window this many dB louder on one channel than the other belongs to that side.
CHANNEL_DB = 6.0
# A speaker's pauses shorter than this stay inside one turn.
BRIDGE_S = 0.4
MAX_WINDOWS = 800  # clustering cost is quadratic: beyond this, windows are grouped first


@dataclass
class Options:
    num_speakers: int | None = None
    min_speakers: int = 1
    max_speakers: int = 10
    hop_s: float = 0.6

    def check(self) -> None:
        from qylon_cli.errors import UsageError

        if self.num_speakers is not None and self.num_speakers < 1:
            raise UsageError("--speakers must be 1 or more.")
        if self.min_speakers < 1 or self.max_speakers < self.min_speakers:
            raise UsageError(
                f"--min-speakers ({self.min_speakers}) must be at least 1 and at most --max-speakers ({self.max_speakers})."
            )


@dataclass
class Turn:
    start: float
    end: float
    speaker: int


@dataclass
class Diarization:
    turns: list[Turn] = field(default_factory=list)
    centroids: np.ndarray = field(default_factory=lambda: np.zeros((0, 256), dtype=np.float32))
    talk_time: list[float] = field(default_factory=list)
    local: int | None = None  # the speaker heard mostly on the microphone channel
    _starts: list[float] | None = field(default=None, repr=False)

    @property
    def n_speakers(self) -> int:
        return len(self.talk_time)

    def speaker_between(self, start: float, end: float) -> int | None:
        """The speaker talking most in [start, end], else the nearest turn's speaker."""
        if not self.turns:
            return None
        if self._starts is None or len(self._starts) != len(self.turns):
            self._starts = [t.start for t in self.turns]
        hi = bisect.bisect_left(self._starts, end)
        totals: dict[int, float] = {}
        k = hi - 1
        while k >= 0 and self.turns[k].end > start:  # turns are sorted and never overlap
            t = self.turns[k]
            overlap = min(end, t.end) - max(start, t.start)
            if overlap > 0:
                totals[t.speaker] = totals.get(t.speaker, 0.0) + overlap
            k -= 1
        if totals:
            return max(totals, key=totals.get)
        mid = (start + end) / 2
        near = [self.turns[i] for i in (hi - 1, hi) if 0 <= i < len(self.turns)]
        return min(near, key=lambda t: min(abs(mid - t.start), abs(mid - t.end))).speaker


def speech_regions(samples: np.ndarray) -> list[tuple[float, float]]:
    """Speech (start_s, end_s) found by Silero VAD (faster-whisper's bundled ONNX model)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(samples) < SAMPLE_RATE // 10:
        return []
    opts = VadOptions(threshold=0.5, min_speech_duration_ms=150, min_silence_duration_ms=250, speech_pad_ms=40)
    return [(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in get_speech_timestamps(samples, opts)]


def _speech_frames(regions, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Absolute 10 ms frame indices of speech, and the region each belongs to."""
    idx = [np.arange(int(round(s / FRAME_S)), min(n_frames, int(round(e / FRAME_S)))) for s, e in regions]
    if not idx:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    return np.concatenate(idx), np.concatenate([np.full(len(x), k) for k, x in enumerate(idx)])


def _windows(region_of: np.ndarray, hop: int) -> list[tuple[int, int]]:
    """(start, stop) windows over the speech frames, each inside one region: 1.6 s every ``hop``
    frames, the last flush with the region's end; a shorter region is one window of its own."""
    out = []
    bounds = np.flatnonzero(np.diff(region_of)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(region_of)]):
        length = hi - lo
        if length <= PARTIAL_FRAMES:
            out.append((lo, hi))
            continue
        starts = list(range(lo, hi - PARTIAL_FRAMES + 1, hop))
        if starts[-1] != hi - PARTIAL_FRAMES:
            starts.append(hi - PARTIAL_FRAMES)
        out += [(st, st + PARTIAL_FRAMES) for st in starts]
    return out


def _window_mels(mel: np.ndarray, windows) -> np.ndarray:
    """Stack each window's mel frames, a short window's tiled up to the encoder's 1.6 s."""
    out = np.empty((len(windows), PARTIAL_FRAMES, mel.shape[1]), dtype=np.float32)
    for k, (lo, hi) in enumerate(windows):
        w = mel[lo:hi]
        out[k] = w if len(w) == PARTIAL_FRAMES else np.resize(w, (PARTIAL_FRAMES, mel.shape[1]))
    return out


def _channel_sides(audio: Audio, frames: np.ndarray, windows) -> np.ndarray | None:
    """+1 for windows dominated by channel 0 (microphone), -1 by channel 1, 0 when unclear."""
    if audio.channels is None or audio.channels.shape[0] < 2:
        return None
    hop = int(FRAME_S * SAMPLE_RATE)
    ch = audio.channels[:2]
    n = ch.shape[1] // hop
    energy = np.square(ch[:, : n * hop].reshape(2, n, hop), dtype=np.float64).sum(axis=2)
    energy = energy[:, np.minimum(frames, n - 1)]
    sides = np.zeros(len(windows), dtype=np.int8)
    for k, (lo, hi) in enumerate(windows):
        e0, e1 = energy[0, lo:hi].sum() + 1e-10, energy[1, lo:hi].sum() + 1e-10
        ratio = 10 * np.log10(e0 / e1)
        sides[k] = 1 if ratio > CHANNEL_DB else -1 if ratio < -CHANNEL_DB else 0
    return sides


def diarize(audio: Audio, opts: Options | None = None, *, regions=None) -> Diarization:
    """Find who spoke when in ``audio``; speakers are numbered by first appearance."""
    opts = opts or Options()
    regions = speech_regions(audio.samples) if regions is None else regions
    enc = encoder()
    wav = audio.samples
    frames, region_of = _speech_frames(regions, len(wav) // int(FRAME_S * SAMPLE_RATE) + 1)
    if len(frames) < 10:  # under 0.1 s of speech: nobody to tell apart
        return Diarization()
    speech = np.concatenate([wav[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e in regions])
    mel = enc.mels(wav * np.float32(_speech_gain(speech)))
    mel = mel[np.minimum(frames, len(mel) - 1)]
    windows = _windows(region_of, max(1, int(round(opts.hop_s / FRAME_S))))
    emb = enc.embed_mels(_window_mels(mel, windows))
    sides = _channel_sides(audio, frames, windows)
    labels = cluster(emb, opts, sides=sides)
    frame_labels = np.empty(len(frames), dtype=int)
    centers = np.array([(lo + hi) / 2 for lo, hi in windows])
    win_region = region_of[[lo for lo, _ in windows]]
    for r in np.unique(region_of):
        in_r = np.flatnonzero(win_region == r)
        pos = np.flatnonzero(region_of == r)
        frame_labels[pos] = labels[in_r[_nearest(centers[in_r], pos)]]
    return _result(frames, frame_labels, emb, labels, sides)


def _speech_gain(speech: np.ndarray) -> float:
    """The factor that puts the speech's RMS at -30 dBFS, the level the encoder was trained on."""
    rms = float(np.sqrt(np.mean(np.square(speech, dtype=np.float64)))) if len(speech) else 0.0
    return 1.0 if rms <= 1e-9 else float(10 ** ((-30.0 - 20 * np.log10(rms)) / 20))


def _nearest(centers: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """For each position, the index of the nearest of the sorted ``centers``."""
    right = np.clip(np.searchsorted(centers, pos), 0, len(centers) - 1)
    left = np.clip(right - 1, 0, len(centers) - 1)
    return np.where(np.abs(centers[left] - pos) <= np.abs(centers[right] - pos), left, right)


def cluster(emb: np.ndarray, opts: Options, *, sides: np.ndarray | None = None) -> np.ndarray:
    """Cluster unit embeddings; return a label per row (0..k-1).

    With channel ``sides``, microphone and system-audio windows are clustered apart
    (no voice is on both), and unclear windows join the nearest cluster.
    """
    n = len(emb)
    if n == 1:
        return np.zeros(1, dtype=int)
    if sides is None or not ((sides > 0).any() and (sides < 0).any()):
        return _cluster_one_side(emb, opts)
    labels = np.full(n, -1)
    offset = 0
    for side in (1, -1):
        idx = np.flatnonzero(sides == side)
        sub = Options(min_speakers=1, max_speakers=opts.max_speakers)
        if opts.num_speakers is not None and side == -1:
            sub.num_speakers = max(1, opts.num_speakers - offset)
        labels[idx] = _cluster_one_side(emb[idx], sub) + offset
        offset = labels.max() + 1
    unclear = np.flatnonzero(labels < 0)
    if len(unclear):
        cents = unit(np.stack([emb[labels == c].mean(axis=0) for c in range(offset)]))
        labels[unclear] = (emb[unclear] @ cents.T).argmax(axis=1)
    return _refine(emb, labels, sides)


def _cluster_one_side(emb: np.ndarray, opts: Options) -> np.ndarray:
    n = len(emb)
    if n == 1:
        return np.zeros(1, dtype=int)
    group = max(1, int(np.ceil(n / MAX_WINDOWS)))
    if group > 1:  # average runs of neighbouring windows first
        keys = np.arange(n) // group
        reduced = unit(np.stack([emb[keys == g].mean(axis=0) for g in range(keys.max() + 1)]))
        labels = _first_pass(reduced, opts)[keys]
    else:
        labels = _first_pass(emb, opts)
    labels = _refine(emb, labels, None)
    if opts.num_speakers is None:
        labels = _fold_small(emb, labels, opts.min_speakers)
    return labels


def _first_pass(emb: np.ndarray, opts: Options) -> np.ndarray:
    from . import spectral

    sim = emb @ emb.T
    if opts.num_speakers is None and opts.min_speakers <= 1 and _one_voice(sim):
        return np.zeros(len(emb), dtype=int)
    return spectral.cluster(sim, min_k=opts.min_speakers, max_k=opts.max_speakers, fixed_k=opts.num_speakers)


def _one_voice(sim: np.ndarray) -> bool:
    """Whether all windows sound alike enough to be one speaker (mean pairwise similarity)."""
    upper = sim[np.triu_indices(len(sim), 1)]
    return bool(len(upper) == 0 or upper.mean() >= ONE_VOICE_SIM)


def _refine(emb: np.ndarray, labels: np.ndarray, sides: np.ndarray | None, rounds: int = 2) -> np.ndarray:
    """Move each window to its nearest cluster centre (a couple of k-means steps)."""
    for _ in range(rounds):
        ids = np.unique(labels)
        cents = unit(np.stack([emb[labels == c].mean(axis=0) for c in ids]))
        score = emb @ cents.T
        if sides is not None:
            side_of = np.array([np.sign(sides[labels == c].sum()) for c in ids])
            score = score - 2.0 * ((sides[:, None] * side_of[None, :]) < 0)
        new = ids[score.argmax(axis=1)]
        if np.array_equal(new, labels):
            break
        labels = new
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def _fold_small(emb: np.ndarray, labels: np.ndarray, min_speakers: int) -> np.ndarray:
    """Fold clusters too small to be a voice (a stray window or two) into their nearest neighbour."""
    n = len(labels)
    while True:
        ids, counts = np.unique(labels, return_counts=True)
        if len(ids) <= max(1, min_speakers):
            break
        small = counts.argmin()
        if counts[small] >= max(3, 0.02 * n):
            break
        cents = unit(np.stack([emb[labels == c].mean(axis=0) for c in ids]))
        sims = cents @ cents[small]
        sims[small] = -np.inf
        labels = np.where(labels == ids[small], ids[int(sims.argmax())], labels)
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def _bridge(turns: list[Turn]) -> list[Turn]:
    """Join a speaker's turns separated by a pause shorter than BRIDGE_S (a breath, not a hand-over)."""
    out: list[Turn] = []
    for t in turns:
        if out and out[-1].speaker == t.speaker and t.start - out[-1].end < BRIDGE_S:
            out[-1].end = t.end
        else:
            out.append(t)
    return out


def _result(frames, frame_labels, emb, labels, sides) -> Diarization:
    # Number speakers by first appearance.
    order: list[int] = []
    for lab in frame_labels:
        if lab not in order:
            order.append(int(lab))
    remap = {old: new for new, old in enumerate(order)}
    frame_labels = np.array([remap[int(x)] for x in frame_labels])
    turns: list[Turn] = []
    for f, lab in zip(frames.tolist(), frame_labels.tolist()):
        t0 = f * FRAME_S
        if turns and turns[-1].speaker == lab and abs(turns[-1].end - t0) < FRAME_S / 2:
            turns[-1].end = t0 + FRAME_S
        else:
            turns.append(Turn(round(t0, 3), round(t0 + FRAME_S, 3), int(lab)))
    turns = _bridge(turns)
    for t in turns:
        t.start, t.end = round(float(t.start), 3), round(float(t.end), 3)
    centroids = unit(np.stack([emb[labels == old].mean(axis=0) for old in order]))
    talk = [round(float((frame_labels == k).sum()) * FRAME_S, 2) for k in range(len(order))]
    local = None
    if sides is not None:
        mic = [float(((labels == old) & (sides > 0)).sum()) / max(1, (labels == old).sum()) for old in order]
        best = int(np.argmax(mic))
        local = best if mic[best] > 0.5 else None
    return Diarization(turns=turns, centroids=centroids, talk_time=talk, local=local)
