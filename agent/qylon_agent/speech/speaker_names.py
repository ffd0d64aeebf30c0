"""A stored meeting's speakers: who they are, how long they spoke, renaming, enrolling."""

from __future__ import annotations

from pathlib import Path

from qylon_cli.errors import InvalidInput, NotFound
from qylon_cli.schemas import Meeting

QUOTE_CHARS = 120


def report(meeting: Meeting) -> list[dict]:
    """Each speaker with name, talk time, share of talk, number of turns and a sample quote."""
    total = sum(sp.talk_time_s for sp in meeting.speakers) or 1.0
    rows = []
    for sp in meeting.speakers:
        segs = [s for s in meeting.segments if s.speaker == sp.id]
        quote = max((s.text for s in segs), key=len, default="")
        if len(quote) > QUOTE_CHARS:
            quote = quote[: QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"
        first = min((s.start for s in segs), default=None)
        rows.append(
            {
                "id": sp.id,
                "name": sp.name,
                "name_source": sp.name_source,
                "score": sp.score,
                "talk_time_s": round(sp.talk_time_s, 1),
                "share": round(sp.talk_time_s / total, 3),
                "segments": len(segs),
                "first_at": first,
                "quote": quote,
                "suggestions": [x.model_dump() for x in sp.suggestions],
            }
        )
    return rows


def find_label(meeting: Meeting, label: str) -> str:
    """The speaker id for a label (SPEAKER_2, speaker_2, 2) or a current name."""
    want = label.strip().lower()
    for sp in meeting.speakers:
        if want in (sp.id.lower(), sp.id.lower().removeprefix("speaker_"), (sp.name or "").lower()):
            return sp.id
    known = (
        ", ".join(sp.id + (f" ({sp.name})" if sp.name else "") for sp in meeting.speakers) or "none"
    )
    raise NotFound(
        f"Meeting {meeting.id[:8]} has no speaker {label!r}.", hint=f"Its speakers: {known}."
    )


def rename(store, meeting: Meeting, label: str, name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or "\n" in name:
        raise InvalidInput(
            f"{name!r} is not a usable name (1-100 characters on one line).", code="invalid_name"
        )
    speaker_id = find_label(meeting, label)
    old = next((sp.name for sp in meeting.speakers if sp.id == speaker_id), None) or speaker_id
    with store.db.atomic():
        store.db.execute(
            "UPDATE speakers SET name = ?, name_source = 'user', score = NULL WHERE meeting_id = ? AND label = ?",
            [name, meeting.id, speaker_id],
        )
        # Action items owned by the speaker under the old label or name follow the new name.
        store.db.execute(
            "UPDATE action_items SET owner = ? WHERE meeting_id = ? AND owner IN (?, ?)",
            [name, meeting.id, speaker_id, old],
        )
    return speaker_id


def enroll_from_meeting(
    store, meeting: Meeting, speaker_id: str, name: str, *, client: str | None = None
):
    """Add the voice of ``speaker_id`` in ``meeting`` (from its audio file) to ``name``'s profile
    (with ``client``: for that client's meetings only)."""
    from . import audio as audio_mod
    from .voices import Voices, embed_speech

    path = store.audio_path(meeting.id)
    if not path:
        raise NotFound(
            f"Meeting {meeting.id[:8]} has no recording (it was imported from a transcript); its voices cannot be learnt.",
            hint="Enroll from a clip instead: qylon speakers enroll NAME clip.wav",
        )
    if not Path(path).exists():
        raise NotFound(
            f"The audio of meeting {meeting.id[:8]} is no longer at {path}; its voice cannot be enrolled.",
            hint="Enroll from a clip instead: qylon speakers enroll NAME clip.wav",
        )
    spans = [(s.start, s.end) for s in meeting.segments if s.speaker == speaker_id]
    seconds, emb, _ = embed_speech(audio_mod.decode(path), spans)
    return Voices(store).add_samples(
        name, [(f"meeting:{meeting.id}:{speaker_id}", seconds, emb)], client=client
    )


def learn_for_client(store, meeting: Meeting, speaker_id: str, name: str, settings=None):
    """With ``speakers.learn_per_client``, a voice the user names in a client's meeting names them
    in that client's later meetings. Returns (profile or None, warning or None)."""
    from qylon_cli import settings as settings_mod

    settings = settings or settings_mod.load()
    if not meeting.client or not settings.get("speakers.learn_per_client", False):
        return None, None
    try:
        return enroll_from_meeting(store, meeting, speaker_id, name, client=meeting.client), None
    except (NotFound, InvalidInput) as exc:
        return None, f"{name}'s voice was not learnt for {meeting.client}: {exc.message}"


def accept(store, meeting: Meeting, label: str, name: str | None = None) -> tuple[str, str]:
    """Name a speaker after a suggestion: NAME (one of their suggestions, or any name), else their best one."""
    speaker_id = find_label(meeting, label)
    speaker = next(sp for sp in meeting.speakers if sp.id == speaker_id)
    if name is None:
        if not speaker.suggestions:
            raise NotFound(
                f"{speaker_id} in meeting {meeting.id[:8]} has no suggested name.",
                hint=f"Name them yourself: qylon meeting speakers {meeting.id[:8]} accept {speaker_id} NAME",
            )
        name = speaker.suggestions[0].name
    rename(store, meeting, speaker_id, name)
    return speaker_id, name.strip()
