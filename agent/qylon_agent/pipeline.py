"""From an audio file to a stored meeting: decode, transcribe, then the later stages.

Each stage takes and returns plain data; the command only wires progress and storage.
A meeting is stored only when every stage has finished, so an error or Ctrl-C
leaves nothing half-written.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from qylon_cli.errors import InvalidInput
from qylon_cli.schemas import Meeting

from . import audio as audio_mod
from . import transcribe as stt

FROM_SETTINGS = "settings"  # diarize as the speakers.* settings say, naming with the store's voice profiles


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
    on_warning: Callable[[str], None] | None = None,
    diarization=FROM_SETTINGS,
    naming=None,
    recorded_at: datetime | None = None,
    date_source: str = "given",
    heard: dict | None = None,
) -> Meeting:
    """``diarization`` (diarize.Options, None for none) finds who spoke when; ``naming`` (attribution.Naming) names them.

    ``recorded_at`` is when the meeting took place (``date_source`` says who said so); by
    default the recording's own date (meeting_date.of_file). Due dates count from it.
    ``heard``, when given, receives ``unheard`` (speech that gave no words, even transcribed
    again alone) and ``recovered`` (stretches that gave words only the second time)."""
    from . import meeting_date, vocabulary

    decoded = audio_mod.decode(path)
    if opts.hotwords is None:
        opts = replace(opts, hotwords=vocabulary.hotwords(settings, client))
    transcript = stt.transcribe(decoded, opts, settings=settings, on_progress=on_progress)
    if heard is not None:
        heard.update(unheard=transcript.unheard, recovered=transcript.recovered)
    if not transcript.segments:
        raise InvalidInput(
            f"{path}: no speech found ({decoded.duration_s:.1f} s of audio, all silence or noise).",
            hint="Nothing was stored. Check the recording's input level or choose another file.",
            code="no_speech",
        )
    segments, speakers = transcript.segments, []
    if diarization == FROM_SETTINGS:
        from .attribution import from_settings

        diarization, naming = from_settings(settings)
    if diarization is not None:
        from .attribution import attribute

        segments, speakers = attribute(decoded, segments, diarization, naming)
    if recorded_at is None:
        recorded_at, date_source = meeting_date.of_file(path, decoded.duration_s)
    meeting = Meeting(
        id=meeting_id or str(uuid.uuid4()),
        title=title or path.stem.replace("_", " ").replace("-", " ").strip() or "Meeting",
        client=client,
        source=str(path.resolve()),
        created_at=recorded_at.astimezone(timezone.utc).replace(microsecond=0),
        date_source=date_source,
        duration_s=round(decoded.duration_s, 3),
        language=transcript.language,
        model=transcript.model,
        segments=segments,
        speakers=speakers,
    )
    return analyze(meeting, extractor=extractor, settings=settings, on_warning=on_warning)


def analyze(meeting: Meeting, *, extractor=None, settings=None, on_warning=None) -> Meeting:
    """The insights stage: action items, decisions and a summary (a model's, or the offline extractor's)."""
    from . import insights

    result = insights.analyze(meeting, extractor=extractor, settings=settings, warn=on_warning)
    return insights.apply(meeting, result)
