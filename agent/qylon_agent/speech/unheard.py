"""Speech left without words: found by voice activity, transcribed again on its own.

Whisper decodes a file in 30-second windows. In some windows, often the last, the model
"gives up": it stops early, or judges the window silent and skips it. The meeting then
loses its end, often the recap and its action items, and nothing says so. Voice activity
detection (Silero, as faster-whisper uses it) still marks the speech there. So, after
the first pass, each stretch that voice activity marks as speech but that no word
covers is transcribed again alone: a fresh window that starts at the stretch, with no
earlier text to condition on. Whatever is still empty is reported with its time range.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from qylon_cli.schemas import Segment

from .audio import SAMPLE_RATE

# A stretch of speech shorter than this without words is not worth a second pass
# (a breath, a cough, the tail of a word the first pass placed a little early).
MIN_UNHEARD_S = 1.0
# Words are this close to a stretch of speech to count as covering it.
COVER_PAD_S = 0.5
# Audio kept either side of the stretch when it is transcribed again.
CONTEXT_S = 0.3


@dataclass
class Stretch:
    start: float
    end: float

    def to_dict(self) -> dict:
        return {"start": round(self.start, 2), "end": round(self.end, 2)}


def speech_map(samples: np.ndarray, found: list[dict] | None = None) -> list[Stretch]:
    """Where voice activity detection hears speech (the VAD faster-whisper runs, same options),
    or where ``found`` (its sample ranges, already taken) says."""
    if found is None:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        found = get_speech_timestamps(samples, VadOptions())
    return [Stretch(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in found]


def uncovered(speech: list[Stretch], segments: list[Segment]) -> list[Stretch]:
    """Parts of ``speech`` at least MIN_UNHEARD_S long that no word (or wordless segment) covers."""
    covered = sorted(
        (w.start - COVER_PAD_S, w.end + COVER_PAD_S)
        for seg in segments
        for w in (seg.words or [SimpleNamespace(start=seg.start, end=seg.end)])
    )
    gaps: list[Stretch] = []
    for part in speech:
        at = part.start
        for a, b in covered:
            if b <= at or a >= part.end:
                continue
            if a > at:
                gaps.append(Stretch(at, a))
            at = max(at, b)
        if at < part.end:
            gaps.append(Stretch(at, part.end))
    merged: list[Stretch] = []
    for gap in gaps:
        if merged and gap.start - merged[-1].end < COVER_PAD_S:
            merged[-1].end = gap.end
        else:
            merged.append(gap)
    return [g for g in merged if g.end - g.start >= MIN_UNHEARD_S]


def _shifted(seg, offset: float, keep: Stretch):
    """A faster-whisper segment of a clip, moved to the file's time; only the words inside ``keep``."""
    words = [
        SimpleNamespace(
            start=w.start + offset, end=w.end + offset, word=w.word, probability=w.probability
        )
        for w in seg.words or []
        if keep.start - 0.2 <= (w.start + w.end) / 2 + offset <= keep.end + 0.2
    ]
    return SimpleNamespace(
        start=seg.start + offset,
        end=seg.end + offset,
        text=seg.text,
        words=words,
        no_speech_prob=seg.no_speech_prob,
        avg_logprob=seg.avg_logprob,
    )


def retry(
    model,
    samples: np.ndarray,
    gap: Stretch,
    *,
    language: str | None,
    beam_size: int,
    guard,
    hotwords: str | None = None,
) -> list[Segment]:
    """Transcribe one stretch again, alone; ``guard`` drops invented text as in the first pass."""
    a = max(0, int((gap.start - CONTEXT_S) * SAMPLE_RATE))
    b = min(len(samples), int((gap.end + CONTEXT_S) * SAMPLE_RATE))
    segments, _ = model.transcribe(
        samples[a:b],
        language=language,
        beam_size=beam_size,
        vad_filter=False,
        word_timestamps=True,
        condition_on_previous_text=False,
        without_timestamps=False,
        hotwords=hotwords,
    )
    found: list[Segment] = []
    for seg in segments:
        moved = _shifted(seg, a / SAMPLE_RATE, gap)
        if seg.words and not moved.words:
            continue  # only words of the neighbouring, already transcribed speech
        kept = guard(moved, samples, found)
        if kept is not None:
            found.append(kept)
    return found
