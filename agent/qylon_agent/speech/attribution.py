"""Who said each word: diarization applied to a transcript, speakers named.

Each word (faster-whisper word timestamps) takes the speaker talking most during
it; a segment is split wherever the speaker changes. Speakers are labelled
SPEAKER_1, SPEAKER_2, ... in order of first words, named after a matching voice
profile, and in two-channel recordings the microphone's voice is the local user.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qylon_cli.schemas import Segment, Speaker, Word

from . import diarize, voices
from .audio import Audio

LOCAL_DEFAULT_NAME = "Me"


@dataclass
class Naming:
    profiles: list = field(default_factory=list)  # voices.Profile
    match_threshold: float = voices.MATCH_THRESHOLD
    me: str | None = None  # the local user's name (two-channel recordings)


def attribute(
    audio: Audio,
    segments: list[Segment],
    opts: diarize.Options | None = None,
    naming: Naming | None = None,
    *,
    client: str | None = None,
    channel_of: list[int] | None = None,
) -> tuple[list[Segment], list[Speaker]]:
    """Split ``segments`` by speaker and list the speakers (label, name if known, talk time);
    profiles name with the samples that apply to a meeting with ``client``. ``channel_of``:
    for a call transcribed side by side, each segment's channel (0 microphone, 1 system)."""
    naming = naming or Naming()
    result = diarize.diarize(audio, opts)
    if not result.n_speakers:  # too little speech to tell voices apart: one speaker
        talk = round(sum(s.end - s.start for s in segments), 2)
        return [s.model_copy(update={"speaker": "SPEAKER_1"}) for s in segments], [
            Speaker(id="SPEAKER_1", talk_time_s=talk)
        ]
    names = voices.match_scores(
        result.centroids, naming.profiles, naming.match_threshold, client=client
    )
    pieces: list[tuple[int, Segment]] = []
    for k, seg in enumerate(segments):
        channel = channel_of[k] if channel_of is not None and result.local is not None else None
        if channel == 0:  # the microphone's words are the local user's, whoever else talks at once
            pieces.append((result.local, seg))
        else:
            pieces += _split(seg, result, exclude=result.local if channel == 1 else None)
    order: list[int] = []
    for spk, _ in pieces:
        if spk not in order:
            order.append(spk)
    label = {spk: f"SPEAKER_{n}" for n, spk in enumerate(order, 1)}
    out = [seg.model_copy(update={"speaker": label[spk]}) for spk, seg in pieces]
    speakers = [_speaker(label[spk], spk, result, names, naming) for spk in order]
    return out, speakers


def _speaker(
    label: str, spk: int, result: diarize.Diarization, names: dict, naming: Naming
) -> Speaker:
    talk = result.talk_time[spk]
    if spk in names:
        name, score = names[spk]
        return Speaker(id=label, name=name, talk_time_s=talk, name_source="profile", score=score)
    if spk == result.local:
        return Speaker(
            id=label, name=naming.me or LOCAL_DEFAULT_NAME, talk_time_s=talk, name_source="local"
        )
    return Speaker(id=label, talk_time_s=talk)


def _split(
    seg: Segment, result: diarize.Diarization, exclude: int | None = None
) -> list[tuple[int, Segment]]:
    if not seg.words:
        return [(result.speaker_between(seg.start, seg.end, exclude=exclude), seg)]
    who = [result.speaker_between(w.start, w.end, exclude=exclude) for w in seg.words]
    # A lone word between two of someone else's is timing noise, not a two-way exchange.
    for i in range(1, len(who) - 1):
        if who[i - 1] == who[i + 1] != who[i]:
            who[i] = who[i - 1]
    runs: list[tuple[int, list[Word]]] = []
    for spk, word in zip(who, seg.words):
        if runs and runs[-1][0] == spk:
            runs[-1][1].append(word)
        else:
            runs.append((spk, [word]))
    if len(runs) == 1:
        return [(runs[0][0], seg)]
    return [
        (
            spk,
            Segment(
                start=words[0].start,
                end=words[-1].end,
                text="".join(w.word for w in words).strip(),
                words=words,
            ),
        )
        for spk, words in runs
    ]


def from_settings(
    settings=None,
    *,
    diarize: bool | None = None,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
):
    """(diarize.Options or None, Naming) from flags, falling back on the speakers.* settings;
    the voice profiles come from the agent store."""
    from qylon_cli import settings as settings_mod

    from ..store.database import Store

    settings = settings or settings_mod.load()
    if diarize is None:
        diarize = bool(settings.get("speakers.diarize", True))
    if not diarize:
        return None, None
    opts = diarize_options(num_speakers, min_speakers, max_speakers)
    store = Store()
    try:
        profiles = voices.Voices(store).list()
    finally:
        store.close()
    me = (settings.get("speakers.me") or "").strip() or None
    threshold = float(settings.get("speakers.match_threshold", voices.MATCH_THRESHOLD))
    return opts, Naming(profiles=profiles, match_threshold=threshold, me=me)


def diarize_options(num_speakers=None, min_speakers=None, max_speakers=None) -> diarize.Options:
    opts = diarize.Options(
        num_speakers=num_speakers,
        min_speakers=min_speakers or 1,
        max_speakers=max_speakers or max(10, min_speakers or 1),
    )
    opts.check()
    return opts
