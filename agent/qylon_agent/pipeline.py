"""From an audio file to a stored meeting: decode, transcribe, then the later stages.

Each stage takes and returns plain data; the command only wires progress and storage.
A meeting is stored only when every stage has finished, so an error or Ctrl-C
leaves nothing half-written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from qylon_cli.errors import InvalidInput
from qylon_cli.schemas import Meeting

from .speech import audio as audio_mod
from .speech import transcribe as stt

FROM_SETTINGS = (
    "settings"  # diarize as the speakers.* settings say, naming with the store's voice profiles
)


def transcribe_file(
    path: Path,
    opts: stt.Options,
    *,
    title: str | None = None,
    client: str | None = None,
    meeting_id: str | None = None,
    settings=None,
    on_progress: Callable[[float, float], None] | None = None,
    extractor: str | None = None,
    fallback: str | None = None,
    on_warning: Callable[[str], None] | None = None,
    diarization=FROM_SETTINGS,
    naming=None,
    recorded_at: datetime | None = None,
    date_source: str = "given",
    heard: dict | None = None,
    participants: list[dict] | None = None,
) -> Meeting:
    """``diarization`` (diarize.Options, None for none) finds who spoke when; ``naming`` (attribution.Naming) names them.

    ``recorded_at`` is when the meeting took place (``date_source`` says who said so); by
    default the recording's own date (meeting_date.of_file). Due dates count from it.
    ``on_warning`` hears every stage's warnings (a missing CUDA device, a model that could not
    run). ``heard``, when given, receives ``unheard`` (speech that gave no words, even
    transcribed again alone), ``recovered`` (stretches that gave words only the second time)
    and ``fell_back`` (the insights came from the offline extractor because the model failed).
    ``participants`` (``[{"name", "email"}]``, the platform's or the calendar's) help name
    the speakers (conversation_names.name_speakers)."""
    from .speech import vocabulary
    from .store import meeting_date

    decoded = audio_mod.decode(path)
    if opts.hotwords is None:
        opts = replace(opts, hotwords=vocabulary.hotwords(settings, client))
    if diarization == FROM_SETTINGS:
        from .speech.attribution import from_settings

        diarization, naming = from_settings(settings)
    sides = None
    if diarization is not None:
        from .speech.twochannel import call_sides

        sides = call_sides(decoded)
    if sides:
        transcript, channel_of = _transcribe_call(sides, opts, settings, on_progress, on_warning)
    else:
        transcript = stt.transcribe(
            decoded, opts, settings=settings, on_progress=on_progress, on_warning=on_warning
        )
        channel_of = None
    if heard is not None:
        heard.update(unheard=transcript.unheard, recovered=transcript.recovered)
    if not transcript.segments:
        raise InvalidInput(
            f"{path}: no speech found ({decoded.duration_s:.1f} s of audio, all silence or noise).",
            hint="Nothing was stored. Check the recording's input level or choose another file.",
            code="no_speech",
        )
    segments, speakers = transcript.segments, []
    if diarization is not None:
        from .speech.attribution import attribute
        from .speech.conversation_names import name_speakers

        segments, speakers = attribute(
            decoded, segments, diarization, naming, client=client, channel_of=channel_of
        )
        speakers = name_speakers(segments, speakers, participants)
    if recorded_at is None:
        recorded_at, date_source = meeting_date.of_file(path, decoded.duration_s)
    meeting = Meeting(
        id=meeting_id or str(uuid.uuid4()),
        title=title or path.stem.replace("_", " ").replace("-", " ").strip() or "Meeting",
        client=client,
        source=str(path.resolve()),
        created_at=recorded_at.astimezone(UTC).replace(microsecond=0),
        date_source=date_source,
        duration_s=round(decoded.duration_s, 3),
        language=transcript.language,
        model=transcript.model,
        segments=segments,
        speakers=speakers,
    )
    return analyze(
        meeting,
        extractor=extractor,
        fallback=fallback,
        settings=settings,
        on_warning=on_warning,
        heard=heard,
    )


def _transcribe_call(
    sides, opts, settings, on_progress, on_warning
) -> tuple[stt.Transcript, list[int]]:
    """A call's two sides transcribed one after the other (words said at once are all heard),
    merged in time order; with each segment's channel (0 microphone, 1 system)."""
    parts = []
    for k, side in enumerate(sides):

        def progress(position: float, total: float, k: int = k) -> None:
            if on_progress:
                on_progress((k * total + position) / 2, total)

        parts.append(
            stt.transcribe(
                side, opts, settings=settings, on_progress=progress, on_warning=on_warning
            )
        )
    tagged = sorted(
        ((seg, k) for k, part in enumerate(parts) for seg in part.segments),
        key=lambda p: (p[0].start, p[1]),
    )
    merged = stt.Transcript(
        language=parts[1].language or parts[0].language,
        model=parts[0].model,
        segments=[seg for seg, _ in tagged],
        unheard=sorted(parts[0].unheard + parts[1].unheard, key=lambda u: u["start"]),
        recovered=sorted(parts[0].recovered + parts[1].recovered, key=lambda u: u["start"]),
    )
    return merged, [k for _, k in tagged]


def analyze(
    meeting: Meeting,
    *,
    extractor=None,
    fallback=None,
    settings=None,
    on_warning=None,
    previous=(),
    heard=None,
) -> Meeting:
    """The insights stage: action items, decisions and a summary (a model's, or the offline extractor's).
    ``heard["fell_back"]``, when given, says whether the extractor warned (the model failed).

    When the model asked for cannot run, ``insights.InsightsFailed`` carries the meeting without
    insights, for the caller to store before it reports the error.
    """
    from . import insights
    from .insights.llm import LLMFailed

    warned: list[str] = []

    def warn(message: str) -> None:
        warned.append(message)
        if on_warning:
            on_warning(message)

    try:
        result = insights.analyze(
            meeting, extractor=extractor, fallback=fallback, settings=settings, warn=warn
        )
    except LLMFailed as exc:
        raise insights.InsightsFailed(meeting, exc) from exc
    if heard is not None:
        heard["fell_back"] = bool(warned)
    return insights.apply(meeting, result, previous=previous)
