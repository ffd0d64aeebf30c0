"""Who spoke when in a two-channel recording: the microphone (channel 0) and the call (channel 1).

``qylon meeting record`` writes the user's microphone and the computer's audio
output as two channels. When both carry speech, that is a call: the microphone
holds one person, the local user, and the system channel holds everyone else.

1. Voice activity on each channel alone.
2. Microphone speech is the local user's, except where the system channel is
   speaking much louder at that moment (relative to each channel's own speech
   level): that is the call leaking into the microphone (echo), not a new voice.
   Likewise system-channel "speech" much quieter than the microphone's at that
   moment is the user's voice leaking into the call, not one of the others.
3. The system channel's own speech is diarized on its own samples (``diarize.py``),
   so the call's speakers are told apart without the microphone in the mix.
4. Where both talk at once, each 10 ms frame goes to the channel that is louder
   relative to its own level; turns never overlap.
5. For transcription (``call_sides``), each side is transcribed alone, keeping only
   its own speech, so words said at once are all heard and each goes to its side:
   the microphone's to you, the system's to the call's speakers.

When only one channel has speech (an in-person meeting with nothing playing, or a
webinar the user only listens to), that channel is diarized like a mono file.
"""

from __future__ import annotations

import numpy as np

from . import diarize as dz
from .audio import SAMPLE_RATE, Audio
from .embeddings import encoder, unit

# Microphone frames whose level (relative to the mic's own speech level) is this many dB
# below the system channel's (relative to its own) are the call leaking into the mic.
ECHO_DB = 10.0
SMOOTH_FRAMES = 30  # levels are compared over 0.3 s
# A channel whose speech falls at least this share within the other's, with levels correlated
# at least COPY_CORR, is an echo of the other (an echo measures 1.0; two real people talking
# over each other 0.68, faster-whisper's stereo test file).
COPY_SHARE = 0.9
COPY_CORR = 0.9
COPY_DB = 6.0  # ... and at least this much quieter (an echo is the original heard through the air)
MIN_CHANNEL_SPEECH_S = 1.0  # less speech than this on a channel: it is not a side of the call
HOP = int(dz.FRAME_S * SAMPLE_RATE)


def _mono(audio: Audio, channel: int) -> Audio:
    return Audio(path=audio.path, samples=audio.channels[channel], channels=None,
                 original_rate=audio.original_rate, original_channels=1)


def _speaking_sides(audio: Audio, r_mic, r_sys) -> int | None:
    """None when both channels carry speech of their own (a call), else the one channel that
    does: a meeting in the room, a call only listened to, or one channel that merely echoes
    the other (all its speech is the other's, its level following the other's)."""
    seconds = [sum(e - s for s, e in r) for r in (r_mic, r_sys)]
    n = len(audio.samples) // HOP + 1
    mic, system = audio.channels[0], audio.channels[1]
    raw_mic, raw_sys = _levels(mic, [], n), _levels(system, [], n)
    on_mic, on_sys = _mask(r_mic, n), _mask(r_sys, n)
    copy = _copy_of(on_sys, raw_sys, on_mic, raw_mic), _copy_of(on_mic, raw_mic, on_sys, raw_sys)
    if min(seconds) >= MIN_CHANNEL_SPEECH_S and not any(copy):
        return None
    return 1 if copy[0] else 0 if copy[1] else 0 if seconds[0] >= seconds[1] else 1


def call_sides(audio: Audio) -> tuple[Audio, Audio] | None:
    """(microphone, system) as mono recordings when ``audio`` is a call with both sides
    speaking, else None. Each side is then transcribed alone, so words said at once are
    all heard."""
    if audio.channels is None or audio.channels.shape[0] < 2:
        return None
    r_mic, r_sys = dz.speech_regions(audio.channels[0]), dz.speech_regions(audio.channels[1])
    if _speaking_sides(audio, r_mic, r_sys) is not None:
        return None
    local, others, _, _ = _who_talks(audio, r_mic, r_sys)
    # Each side keeps only its own speech (0.2 s around it): the call's echo in the
    # microphone must not be transcribed again as the user's words.
    return _keep(audio, 0, local), _keep(audio, 1, others)


def _keep(audio: Audio, channel: int, mask: np.ndarray, pad_s: float = 0.2) -> Audio:
    pad = int(pad_s / dz.FRAME_S)
    grown = np.convolve(mask.astype(np.int8), np.ones(2 * pad + 1, dtype=np.int8), mode="same") > 0
    gate = np.repeat(grown, HOP)[: len(audio.samples)]
    side = _mono(audio, channel)
    side.samples = np.where(gate[: len(side.samples)], side.samples, np.float32(0))
    return side


def _who_talks(audio: Audio, r_mic, r_sys):
    """(local, others, mic level, system level) per 10 ms frame of a call: the microphone's
    speech that is not the call's echo, and the system's that is not the user leaking in."""
    mic, system = audio.channels[0], audio.channels[1]
    n = len(audio.samples) // HOP + 1
    on_mic, on_sys = _mask(r_mic, n), _mask(r_sys, n)
    level_mic, level_sys = _levels(mic, r_mic, n), _levels(system, r_sys, n)
    local = on_mic & ~(on_sys & (level_mic < level_sys - ECHO_DB))
    others = on_sys & ~(on_mic & (level_sys < level_mic - ECHO_DB))
    return local, others, level_mic, level_sys


def diarize(audio: Audio, opts: dz.Options) -> dz.Diarization:
    """Diarize a two-channel recording (a call: per side; else the one side with speech)."""
    r_mic, r_sys = dz.speech_regions(audio.channels[0]), dz.speech_regions(audio.channels[1])
    n = len(audio.samples) // HOP + 1
    only = _speaking_sides(audio, r_mic, r_sys)
    if only is not None:
        return dz.diarize(_mono(audio, only), opts, regions=r_mic if only == 0 else r_sys)
    local, others, level_mic, level_sys = _who_talks(audio, r_mic, r_sys)
    r_sys = _regions(others, min_s=0.3, bridge_s=0.3)
    remote_opts = dz.Options(
        num_speakers=None if opts.num_speakers is None else max(1, opts.num_speakers - 1),
        min_speakers=max(1, opts.min_speakers - 1), max_speakers=max(1, opts.max_speakers - 1), hop_s=opts.hop_s,
    )
    remote = dz.diarize(_mono(audio, 1), remote_opts, regions=r_sys)
    labels = np.full(n, -1)
    for t in remote.turns:
        labels[int(round(t.start / dz.FRAME_S)) : int(round(t.end / dz.FRAME_S))] = t.speaker
    me = remote.n_speakers
    both = local & (labels >= 0)
    labels[local & ~both] = me
    labels[both & (level_mic >= level_sys)] = me
    centroids = list(remote.centroids)
    centroids.append(_voice(audio.channels[0], local))
    return dz.from_frames(labels, np.stack(centroids), local=me)


def _mask(regions, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s, e in regions:
        mask[int(round(s / dz.FRAME_S)) : int(round(e / dz.FRAME_S))] = True
    return mask


def _levels(x: np.ndarray, regions, n: int) -> np.ndarray:
    """Per 10 ms frame, the channel's level in dB relative to the median level of its own speech."""
    frames = len(x) // HOP
    energy = np.square(x[: frames * HOP].reshape(frames, HOP), dtype=np.float64).mean(axis=1)
    # Over 0.3 s: a syllable's rise and fall is not a change of who is talking.
    energy = np.convolve(energy, np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="same")
    db = np.full(n, -120.0)
    db[:frames] = 10 * np.log10(energy + 1e-12)
    speech = _mask(regions, n)
    # The loud end of the channel's speech: leaked (quiet) speech must not pull the reference down.
    ref = float(np.percentile(db[speech], 90)) if speech.any() else 0.0  # no regions: absolute dB
    return db - ref


def _copy_of(on_a: np.ndarray, db_a: np.ndarray, on_b: np.ndarray, db_b: np.ndarray) -> bool:
    """Whether channel b's speech is only channel a's heard again: nearly all of it while a
    speaks, quieter than a, its level rising and falling with a's."""
    both = on_a & on_b
    if on_b.sum() < 50 or both.sum() < COPY_SHARE * on_b.sum():
        return False
    if np.median(db_b[both] - db_a[both]) > -COPY_DB:
        return False  # as loud as the original: a voice of its own
    return bool(np.corrcoef(db_a[both], db_b[both])[0, 1] >= COPY_CORR)


def _regions(mask: np.ndarray, min_s: float = 0.15, bridge_s: float = 0.0) -> list[tuple[float, float]]:
    """(start_s, end_s) of the runs of ``mask``, gaps under ``bridge_s`` closed, runs under ``min_s`` dropped."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    runs: list[list[float]] = []
    for a, b in zip(edges[::2] * dz.FRAME_S, edges[1::2] * dz.FRAME_S):
        if runs and a - runs[-1][1] < bridge_s:
            runs[-1][1] = b
        else:
            runs.append([a, b])
    return [(a, b) for a, b in runs if b - a >= min_s]


def _voice(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The embedding of the speech in ``x`` at the frames of ``mask`` (zeros when there is too little)."""
    spans = _regions(mask, min_s=0.0)
    if sum(e - s for s, e in spans) < 0.5:
        return np.zeros(256, dtype=np.float32)
    speech = np.concatenate([x[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e in spans])
    return unit(encoder().embed_utterance(speech * np.float32(dz.speech_gain(speech))))
