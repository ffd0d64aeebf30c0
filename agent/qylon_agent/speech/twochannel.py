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

import weakref
from dataclasses import dataclass

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
    return Audio(
        path=audio.path,
        samples=audio.channels[channel],
        channels=None,
        original_rate=audio.original_rate,
        original_channels=1,
    )


@dataclass
class _Call:
    """What the two channels hold, per 10 ms frame; worked out once per recording."""

    regions: tuple[list, list]  # speech (start_s, end_s) on the microphone, on the system channel
    only: int | None  # None: a call (both sides speak); else the one channel with speech of its own
    local: np.ndarray  # the microphone's speech that is not the call's echo
    others: np.ndarray  # the system's speech that is not the user leaking in
    louder_mic: np.ndarray  # the microphone louder than the system, each against its own speech


# The pipeline asks twice (to transcribe, then to diarize): the last answer is kept while
# its recording lives (a weak reference: the cache never holds the audio itself).
_last: tuple[weakref.ref, _Call] | None = None


def _analyse(audio: Audio) -> _Call:
    global _last
    if _last is not None and _last[0]() is audio.channels:
        return _last[1]
    mic, system = audio.channels[0], audio.channels[1]
    n = len(audio.samples) // HOP + 1
    r_mic, r_sys = dz.speech_regions(mic), dz.speech_regions(system)
    on_mic, on_sys = _mask(r_mic, n), _mask(r_sys, n)
    db_mic, db_sys = _db(mic, n), _db(system, n)
    # Each channel measured against the loud end of its own speech (leaked, quiet speech
    # must not pull that reference down).
    rel_mic, rel_sys = db_mic - _loud(db_mic, on_mic), db_sys - _loud(db_sys, on_sys)
    seconds = [sum(e - s for s, e in r) for r in (r_mic, r_sys)]
    copy = _copy_of(on_sys, db_sys, on_mic, db_mic), _copy_of(on_mic, db_mic, on_sys, db_sys)
    only = None
    if min(seconds) < MIN_CHANNEL_SPEECH_S or any(copy):
        # One side only: a meeting in the room, a call only listened to, or one channel
        # that merely echoes the other (all its speech is the other's, following its level).
        only = 1 if copy[0] else 0 if copy[1] else 0 if seconds[0] >= seconds[1] else 1
    call = _Call(
        regions=(r_mic, r_sys),
        only=only,
        local=on_mic & ~(on_sys & (rel_mic < rel_sys - ECHO_DB)),
        others=on_sys & ~(on_mic & (rel_sys < rel_mic - ECHO_DB)),
        louder_mic=rel_mic >= rel_sys,
    )
    _last = (weakref.ref(audio.channels), call)
    return call


def call_sides(audio: Audio) -> tuple[Audio, Audio] | None:
    """(microphone, system) as mono recordings when ``audio`` is a call with both sides
    speaking, else None. Each side is then transcribed alone, so words said at once are
    all heard."""
    if audio.channels is None or audio.channels.shape[0] < 2:
        return None
    call = _analyse(audio)
    if call.only is not None:
        return None
    # Each side keeps only its own speech (0.2 s around it): the call's echo in the
    # microphone must not be transcribed again as the user's words.
    return _keep(audio, 0, call.local), _keep(audio, 1, call.others)


def _keep(audio: Audio, channel: int, mask: np.ndarray, pad_s: float = 0.2) -> Audio:
    pad = int(pad_s / dz.FRAME_S)
    grown = np.convolve(mask.astype(np.int8), np.ones(2 * pad + 1, dtype=np.int8), mode="same") > 0
    side = _mono(audio, channel)
    side.samples = np.where(np.repeat(grown, HOP)[: len(side.samples)], side.samples, np.float32(0))
    return side


def diarize(audio: Audio, opts: dz.Options) -> dz.Diarization:
    """Diarize a two-channel recording (a call: per side; else the one side with speech)."""
    call = _analyse(audio)
    if call.only is not None:
        return dz.diarize(_mono(audio, call.only), opts, regions=call.regions[call.only])
    remote_opts = dz.Options(
        num_speakers=None if opts.num_speakers is None else max(1, opts.num_speakers - 1),
        min_speakers=max(1, opts.min_speakers - 1),
        max_speakers=max(1, opts.max_speakers - 1),
        hop_s=opts.hop_s,
    )
    remote = dz.diarize(
        _mono(audio, 1), remote_opts, regions=_regions(call.others, min_s=0.3, bridge_s=0.3)
    )
    labels = np.full(len(call.local), -1)
    for t in remote.turns:
        labels[round(t.start / dz.FRAME_S) : round(t.end / dz.FRAME_S)] = t.speaker
    me = remote.n_speakers
    labels[call.local & ((labels < 0) | call.louder_mic)] = me
    centroids = np.vstack(
        [remote.centroids.reshape(-1, 256), _voice(audio.channels[0], call.local)]
    )
    return dz.from_frames(labels, centroids, local=me)


def _mask(regions, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s, e in regions:
        mask[round(s / dz.FRAME_S) : round(e / dz.FRAME_S)] = True
    return mask


def _db(x: np.ndarray, n: int) -> np.ndarray:
    """Per 10 ms frame, the channel's level in dB, smoothed over 0.3 s (a syllable's rise
    and fall is not a change of who is talking)."""
    frames = len(x) // HOP
    energy = np.square(x[: frames * HOP].reshape(frames, HOP), dtype=np.float64).mean(axis=1)
    energy = np.convolve(energy, np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="same")
    db = np.full(n, -120.0)
    db[:frames] = 10 * np.log10(energy + 1e-12)
    return db


def _loud(db: np.ndarray, speech: np.ndarray) -> float:
    return float(np.percentile(db[speech], 90)) if speech.any() else 0.0


def _copy_of(on_a: np.ndarray, db_a: np.ndarray, on_b: np.ndarray, db_b: np.ndarray) -> bool:
    """Whether channel b's speech is only channel a's heard again: nearly all of it while a
    speaks, quieter than a, its level rising and falling with a's."""
    both = on_a & on_b
    if on_b.sum() < 50 or both.sum() < COPY_SHARE * on_b.sum():
        return False
    if np.median(db_b[both] - db_a[both]) > -COPY_DB:
        return False  # as loud as the original: a voice of its own
    return bool(np.corrcoef(db_a[both], db_b[both])[0, 1] >= COPY_CORR)


def _regions(
    mask: np.ndarray, min_s: float = 0.15, bridge_s: float = 0.0
) -> list[tuple[float, float]]:
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
