"""Who spoke when, offline: voice activity, speaker embeddings, clustering.

1. Speech regions from the Silero VAD model that ships inside faster-whisper.
2. Each speech region is cut into 1.6 s windows every ``hop_s`` (a shorter region
   is one window, tiled to 1.6 s); each window gets a GE2E embedding
   (``embeddings.py``, NumPy), the file's speech scaled to -30 dBFS first.
3. Agglomerative clustering (``ahc.py``, average linkage) merges windows until
   no two groups sound alike enough: the threshold is calibrated on real speech
   (docs/speakers.md), so the number of speakers comes from the audio
   (``num_speakers`` / ``min_speakers`` / ``max_speakers`` bound it). Telephone
   audio (nothing above 4 kHz) makes every voice sound more alike to the encoder,
   so there one voice is told from several by the mean similarity and the count
   by the spectral eigengap (``spectral.py``). Windows then move to the nearest
   cluster centre and clusters of a stray window or two are folded in, unless
   their voice is clearly unlike every other (a short "Yes." keeps its speaker).
4. Every 10 ms speech frame takes the speaker of the nearest window centre in its
   own speech region; runs of frames become turns, and a speaker's short pauses
   are bridged.

Two-channel recordings (microphone on channel 0, system audio on channel 1, as
``qylon meeting record`` writes them) are diarized channel by channel in
``twochannel.py``: the microphone is the local user, the call's side is clustered
on its own samples.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from .audio import SAMPLE_RATE, Audio
from .embeddings import PARTIAL_FRAMES, encoder, unit

FRAME_S = 0.01
# Two groups of speech segments whose mean cross similarity is below this are two voices.
# Calibrated on real speech set aside for it (docs/speakers.md): DER is lowest from
# 0.62 to 0.70 and rises either side (voices merge below, one voice splits above).
MERGE_SIM = 0.66
# Telephone audio only: windows whose mean pairwise cosine similarity reaches this are
# one voice (one speaker, not two).
ONE_VOICE_SIM = 0.76
# Share of the speech's spectral energy above 4 kHz under which audio is telephone band.
NARROWBAND_SHARE = 1e-4
# A cluster of a stray window or two is folded into the nearest unless its centre is less
# similar than this to every other (a short "Yes." of someone else). Calibrated with MERGE_SIM:
# 0.6 folds real short turns away, 0.7 keeps stray windows as speakers.
DISTINCT_SIM = 0.65
# A speaker's pauses shorter than this stay inside one turn.
BRIDGE_S = 0.4
SEGMENT_WINDOWS = 3  # windows averaged into one segment before clustering (1.6 s + 2 hops = 2.8 s)
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
    # Per excluded speaker (None: nobody), the turns and their starts, for bisecting; words are looked up one by one.
    _index: dict = field(default_factory=dict, repr=False)

    @property
    def n_speakers(self) -> int:
        return len(self.talk_time)

    def _without(self, exclude: int | None) -> tuple[list[Turn], list[float]]:
        if exclude not in self._index:
            turns = [t for t in self.turns if t.speaker != exclude]
            self._index[exclude] = (turns, [t.start for t in turns])
        return self._index[exclude]

    def speaker_between(
        self, start: float, end: float, *, exclude: int | None = None
    ) -> int | None:
        """The speaker talking most in [start, end], else the nearest turn's speaker (never ``exclude``)."""
        turns, starts = self._without(exclude)
        if not turns:
            return None
        hi = bisect.bisect_left(starts, end)
        totals: dict[int, float] = {}
        k = hi - 1
        while k >= 0 and turns[k].end > start:  # turns are sorted and never overlap
            t = turns[k]
            overlap = min(end, t.end) - max(start, t.start)
            if overlap > 0:
                totals[t.speaker] = totals.get(t.speaker, 0.0) + overlap
            k -= 1
        if totals:
            return max(totals, key=totals.get)
        mid = (start + end) / 2
        near = [turns[i] for i in (hi - 1, hi) if 0 <= i < len(turns)]
        return min(near, key=lambda t: min(abs(mid - t.start), abs(mid - t.end))).speaker


def speech_regions(samples: np.ndarray) -> list[tuple[float, float]]:
    """Speech (start_s, end_s) found by Silero VAD (faster-whisper's bundled ONNX model)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(samples) < SAMPLE_RATE // 10:
        return []
    opts = VadOptions(
        threshold=0.5, min_speech_duration_ms=150, min_silence_duration_ms=250, speech_pad_ms=40
    )
    return [
        (r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE)
        for r in get_speech_timestamps(samples, opts)
    ]


def _speech_frames(regions, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Absolute 10 ms frame indices of speech, and the region each belongs to."""
    idx = [np.arange(round(s / FRAME_S), min(n_frames, round(e / FRAME_S))) for s, e in regions]
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


def diarize(audio: Audio, opts: Options | None = None, *, regions=None) -> Diarization:
    """Find who spoke when in ``audio``; speakers are numbered by first appearance."""
    opts = opts or Options()
    if regions is None and audio.channels is not None and audio.channels.shape[0] >= 2:
        from . import twochannel

        return twochannel.diarize(audio, opts)
    regions = speech_regions(audio.samples) if regions is None else regions
    enc = encoder()
    wav = audio.samples
    frames, region_of = _speech_frames(regions, len(wav) // int(FRAME_S * SAMPLE_RATE) + 1)
    if len(frames) < 10:  # under 0.1 s of speech: nobody to tell apart
        return Diarization()
    speech = np.concatenate([wav[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e in regions])
    mel = enc.mels(wav * np.float32(speech_gain(speech)))
    mel = mel[np.minimum(frames, len(mel) - 1)]
    windows = _windows(region_of, max(1, round(opts.hop_s / FRAME_S)))
    emb = enc.embed_mels(_window_mels(mel, windows))
    win_region = region_of[[lo for lo, _ in windows]]
    labels = cluster(emb, opts, narrowband=_narrowband(speech), region=win_region)
    frame_labels = np.empty(len(frames), dtype=int)
    centers = np.array([(lo + hi) / 2 for lo, hi in windows])
    for r in np.unique(region_of):
        in_r = np.flatnonzero(win_region == r)
        pos = np.flatnonzero(region_of == r)
        frame_labels[pos] = labels[in_r[_nearest(centers[in_r], pos)]]
    all_frames = np.full(int(frames.max()) + 1, -1)
    all_frames[frames] = frame_labels
    centroids = unit(np.stack([emb[labels == c].mean(axis=0) for c in range(labels.max() + 1)]))
    return from_frames(all_frames, centroids)


def _narrowband(speech: np.ndarray) -> bool:
    """Whether the speech holds (almost) nothing above 4 kHz: a telephone line, or 8 kHz audio."""
    part = speech[: 60 * SAMPLE_RATE]
    if len(part) < SAMPLE_RATE // 2:
        return False
    power = np.abs(np.fft.rfft(part.astype(np.float64))) ** 2
    high = power[len(power) // 2 :].sum()  # above 4 kHz of the 8 kHz Nyquist band
    return bool(high <= NARROWBAND_SHARE * (power.sum() + 1e-20))


def speech_gain(speech: np.ndarray) -> float:
    """The factor that puts the speech's RMS at -30 dBFS, the level the encoder was trained on."""
    rms = float(np.sqrt(np.mean(np.square(speech, dtype=np.float64)))) if len(speech) else 0.0
    return 1.0 if rms <= 1e-9 else float(10 ** ((-30.0 - 20 * np.log10(rms)) / 20))


def _nearest(centers: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """For each position, the index of the nearest of the sorted ``centers``."""
    right = np.clip(np.searchsorted(centers, pos), 0, len(centers) - 1)
    left = np.clip(right - 1, 0, len(centers) - 1)
    return np.where(np.abs(centers[left] - pos) <= np.abs(centers[right] - pos), left, right)


def _segments(region: np.ndarray, size: int) -> np.ndarray:
    """A segment number per window: runs of up to ``size`` consecutive windows of one speech region."""
    keys = np.empty(len(region), dtype=int)
    key, count = -1, 0
    for i, r in enumerate(region):
        if i == 0 or r != region[i - 1] or count == size:
            key, count = key + 1, 0
        keys[i] = key
        count += 1
    return keys


def cluster(
    emb: np.ndarray, opts: Options, *, narrowband: bool = False, region: np.ndarray | None = None
) -> np.ndarray:
    """Cluster unit window embeddings; return a label per row (0..k-1). ``region``: the
    speech region of each window (consecutive windows of one region are averaged first)."""
    n = len(emb)
    if n == 1:
        return np.zeros(1, dtype=int)
    region = np.zeros(n, dtype=int) if region is None else region
    size = SEGMENT_WINDOWS if not narrowband else 1
    keys = _segments(region, max(size, int(np.ceil(n / MAX_WINDOWS))))
    if keys[-1] + 1 < n:  # average the windows of each segment: a steadier voice
        reduced = unit(np.stack([emb[keys == g].mean(axis=0) for g in range(keys[-1] + 1)]))
        labels = _first_pass(reduced, opts, narrowband)[keys]
    else:
        labels = _first_pass(emb, opts, narrowband)
    labels = _refine(emb, labels)
    if opts.num_speakers is None:
        labels = _fold_small(emb, labels, opts.min_speakers)
    return labels


def _first_pass(emb: np.ndarray, opts: Options, narrowband: bool = False) -> np.ndarray:
    from . import ahc, spectral

    if not narrowband:
        return ahc.cluster(
            emb,
            MERGE_SIM,
            min_k=opts.min_speakers,
            max_k=opts.max_speakers,
            fixed_k=opts.num_speakers,
        )
    sim = emb @ emb.T
    if opts.num_speakers is None and opts.min_speakers <= 1 and _one_voice(sim):
        return np.zeros(len(emb), dtype=int)
    return spectral.cluster(
        sim, min_k=opts.min_speakers, max_k=opts.max_speakers, fixed_k=opts.num_speakers
    )


def _one_voice(sim: np.ndarray) -> bool:
    """Whether all windows sound alike enough to be one speaker (mean pairwise similarity)."""
    upper = sim[np.triu_indices(len(sim), 1)]
    return bool(len(upper) == 0 or upper.mean() >= ONE_VOICE_SIM)


def _refine(emb: np.ndarray, labels: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Move each window to its nearest cluster centre (a couple of k-means steps)."""
    for _ in range(rounds):
        ids = np.unique(labels)
        cents = unit(np.stack([emb[labels == c].mean(axis=0) for c in ids]))
        new = ids[(emb @ cents.T).argmax(axis=1)]
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
        cents = unit(np.stack([emb[labels == c].mean(axis=0) for c in ids]))
        nearest = cents @ cents.T
        np.fill_diagonal(nearest, -np.inf)
        foldable = (counts < max(3, 0.02 * n)) & (nearest.max(axis=1) >= DISTINCT_SIM)
        if not foldable.any():
            break
        small = int(np.flatnonzero(foldable)[counts[foldable].argmin()])
        labels = np.where(labels == ids[small], ids[int(nearest[small].argmax())], labels)
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


def from_frames(
    labels: np.ndarray, centroids: np.ndarray, *, local: int | None = None
) -> Diarization:
    """A Diarization from a speaker label per 10 ms frame (-1: nobody) and each label's voice;
    speakers are renumbered by first appearance and those who never speak dropped."""
    order = list(dict.fromkeys(int(x) for x in labels[labels >= 0]))
    remap = np.full(max(len(centroids), 1), -1)
    remap[order] = np.arange(len(order))
    frames = np.flatnonzero(labels >= 0)
    new = remap[labels[frames]]
    turns: list[Turn] = []
    if len(frames):
        cuts = np.flatnonzero((np.diff(frames) != 1) | (np.diff(new) != 0)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(frames)]):
            turns.append(
                Turn(
                    round(frames[lo] * FRAME_S, 3),
                    round((frames[hi - 1] + 1) * FRAME_S, 3),
                    int(new[lo]),
                )
            )
    turns = _bridge(turns)
    talk = [round(float((new == k).sum()) * FRAME_S, 2) for k in range(len(order))]
    cents = centroids[order] if order else np.zeros((0, centroids.shape[1]), dtype=np.float32)
    mine = (
        int(remap[local])
        if local is not None and local < len(remap) and remap[local] >= 0
        else None
    )
    return Diarization(turns=turns, centroids=cents, talk_time=talk, local=mine)
