"""Batched transcription: stretches of speech decoded several at a time, losing no words.

faster-whisper's own ``BatchedInferencePipeline`` is fast but drops words that its
sequential mode keeps (2-3 points of word error rate on meeting audio). What it does
differently, and what this module does instead (docs/benchmarks.md measures each):

- it decodes each chunk *without timestamps*, as one run of text: the model often stops
  before the end of a full 30 s chunk and the rest is lost. Here chunks are decoded with
  timestamps, as in sequential mode, and when the model stops at a timestamp before the
  chunk's end, the rest of the chunk goes back into the queue (sequential mode's "seek").
- it decodes once, at temperature 0: a chunk that loops or that the model is unsure of
  stays as it came out. Here such a chunk is decoded again alone with sequential mode's
  temperature fallback.
- its chunks are packed up to the window's full 30 s: with tiny.en, the longer the
  window, the more words are dropped. Here chunks are at most CHUNK_S long, long stretches
  cut at their last pause, and the window is cut to the batch's longest chunk (and 1 s
  more) instead of padded to 30 s: shorter windows cost the encoder less, so the extra
  windows cost nothing.

Audio is never copied whole: each chunk's samples and features exist only while its
batch is decoded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .audio import SAMPLE_RATE

# Longest chunk of speech decoded as one window (Whisper's window is 30 s).
CHUNK_S = 16.0
BATCH_SIZE = 8
# What is left of a chunk after the model stopped early is decoded again if this long.
MIN_TAIL_S = 1.0
# Sequential mode's thresholds for decoding a window again at a higher temperature.
COMPRESSION_RATIO_MAX = 2.4
LOGPROB_MIN = -1.0
NO_SPEECH_MIN = 0.6
# What a chunk with nothing kept hands to the word alignment (one row per chunk).
EMPTY = {"seek": 0, "start": 0.0, "end": 0.0, "tokens": []}


@dataclass
class Chunk:
    """Stretches of the file (sample ranges), heard glued together as one window."""

    spans: list[tuple[int, int]]

    @property
    def duration(self) -> float:
        return sum(b - a for a, b in self.spans) / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.spans[-1][1] / SAMPLE_RATE

    def audio(self, samples: np.ndarray) -> np.ndarray:
        if len(self.spans) == 1:
            a, b = self.spans[0]
            return samples[a:b]
        return np.concatenate([samples[a:b] for a, b in self.spans])

    def file_time(self, t: float) -> float:
        """The file's time of ``t`` seconds into the glued window."""
        at = int(t * SAMPLE_RATE)
        for a, b in self.spans:
            if at <= b - a:
                return (a + at) / SAMPLE_RATE
            at -= b - a
        return self.end

    def after(self, t: float) -> Chunk:
        """The part of the window from ``t`` seconds on."""
        at, spans = int(t * SAMPLE_RATE), []
        for a, b in self.spans:
            if at < b - a:
                spans.append((a + max(at, 0), b))
            at -= b - a
        return Chunk(spans)


def plan(speech: list[dict], chunk_s: float = CHUNK_S) -> list[Chunk]:
    """Pack stretches of speech (sample ranges, as voice activity gives them, none longer
    than ``chunk_s``) into windows of at most ``chunk_s`` seconds, in time order."""
    limit = int(chunk_s * SAMPLE_RATE)
    chunks: list[Chunk] = []
    length = 0
    for part in speech:
        a, b = part["start"], part["end"]
        if chunks and length + (b - a) <= limit:
            chunks[-1].spans.append((a, b))
            length += b - a
        else:
            chunks.append(Chunk([(a, b)]))
            length = b - a
    return chunks


def speech(samples: np.ndarray, chunk_s: float = CHUNK_S) -> list[dict]:
    """Voice activity (the options sequential mode uses), long stretches cut at their last
    pause before ``chunk_s``."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return get_speech_timestamps(samples, VadOptions(max_speech_duration_s=chunk_s))


def segments(
    model,
    samples: np.ndarray,
    spoken: list[dict],
    *,
    language: str,
    beam_size: int,
    hotwords: str | None = None,
    batch_size: int = BATCH_SIZE,
    chunk_s: float = CHUNK_S,
    on_progress: Callable[[float], None] | None = None,
) -> Iterator[SimpleNamespace]:
    """Segments (faster-whisper's fields, with words, in the file's time) of the speech in
    ``spoken``; ``on_progress(seconds)`` after each batch: the file position up to which
    everything is decoded."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    prompt = model.get_prompt(tokenizer, [], without_timestamps=False, hotwords=hotwords)
    suppress = get_suppressed_tokens(tokenizer, [-1])
    queue = deque(plan(spoken, chunk_s))
    while queue:
        batch = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
        decoded, tails, again = _decode(
            model, tokenizer, prompt, suppress, samples, batch, beam_size
        )
        if tails:  # glued together (and to what follows): one window, not one each
            rest = [*tails, *queue]
            queue = deque(plan([{"start": a, "end": b} for c in rest for a, b in c.spans], chunk_s))
        for chunk in again:
            decoded.extend(_alone(model, samples, chunk, language, beam_size, hotwords))
        yield from sorted(decoded, key=lambda s: s.start)
        if on_progress:
            on_progress(queue[0].spans[0][0] / SAMPLE_RATE if queue else len(samples) / SAMPLE_RATE)


def _decode(model, tokenizer, prompt, suppress, samples, batch, beam_size):
    """One batch: (segments, the chunks' undecoded rests, chunks to decode again alone)."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.transcribe import get_compression_ratio

    features = [model.feature_extractor(chunk.audio(samples))[..., :-1] for chunk in batch]
    # The window only as long as the batch's longest chunk and 1 s more, not 30 s.
    frames = min(3000, -(-max(f.shape[-1] for f in features) // 100) * 100 + 100)
    features = np.stack([pad_or_trim(f, frames) for f in features])
    encoded = model.encode(features)
    del features
    results = model.model.generate(
        encoded,
        [prompt] * len(batch),
        beam_size=beam_size,
        max_length=model.max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=suppress,
        max_initial_timestamp_index=round(1.0 / model.time_precision),
    )
    parts, sizes, kept, tails, again = [], [], [], [], []
    for chunk, result in zip(batch, results):
        tokens = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        text = tokenizer.decode(tokens).strip()
        size = min(round(chunk.duration * model.frames_per_second), 3000)
        sizes.append(size)
        silent = result.no_speech_prob > NO_SPEECH_MIN and avg_logprob < LOGPROB_MIN
        if not silent and (
            get_compression_ratio(text) > COMPRESSION_RATIO_MAX or avg_logprob < LOGPROB_MIN
        ):
            again.append(chunk)
            silent = True
        if silent or not text:
            parts.append([EMPTY])
            kept.append(None)
            continue
        subs, seek, _ = model._split_segments_by_timestamps(
            tokenizer=tokenizer,
            tokens=tokens,
            time_offset=0.0,
            segment_size=size,
            segment_duration=chunk.duration,
            seek=0,
        )
        subs = [s for s in subs if any(t < tokenizer.eot for t in s["tokens"])]
        if seek < size and chunk.duration - seek / model.frames_per_second >= MIN_TAIL_S:
            tails.append(chunk.after(seek / model.frames_per_second))
        for s in subs:
            s.update(
                text=tokenizer.decode(s["tokens"]),
                avg_logprob=avg_logprob,
                no_speech_prob=result.no_speech_prob,
            )
        parts.append(subs or [EMPTY])
        kept.append(chunk if subs else None)
    model.add_word_timestamps(
        parts, tokenizer, encoded, sizes, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、", 0.0
    )
    found = [
        _in_file_time(chunk, sub)
        for chunk, subs in zip(kept, parts)
        if chunk is not None
        for sub in subs
    ]
    return found, tails, again


def _in_file_time(chunk: Chunk, sub: dict) -> SimpleNamespace:
    """A decoded segment (faster-whisper's fields, times in the window) in the file's time."""
    words = [
        SimpleNamespace(
            start=chunk.file_time(w["start"]),
            end=chunk.file_time(w["end"]),
            word=w["word"],
            probability=w["probability"],
        )
        for w in sub.get("words") or []
    ]
    return SimpleNamespace(
        start=words[0].start if words else chunk.file_time(sub["start"]),
        end=words[-1].end if words else chunk.file_time(sub["end"]),
        text=sub["text"],
        words=words,
        no_speech_prob=sub["no_speech_prob"],
        avg_logprob=sub["avg_logprob"],
    )


def _alone(model, samples, chunk: Chunk, language, beam_size, hotwords) -> list[SimpleNamespace]:
    """A chunk decoded again on its own, as sequential mode would (temperature fallback)."""
    found, _ = model.transcribe(
        chunk.audio(samples),
        language=language,
        beam_size=beam_size,
        vad_filter=False,
        word_timestamps=True,
        condition_on_previous_text=False,
        hotwords=hotwords,
    )
    return [
        _in_file_time(
            chunk,
            {
                "start": seg.start,
                "end": seg.end,
                "text": seg.text,
                "words": [
                    {"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                    for w in seg.words or []
                ],
                "no_speech_prob": seg.no_speech_prob,
                "avg_logprob": seg.avg_logprob,
            },
        )
        for seg in found
    ]
