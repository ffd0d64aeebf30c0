"""Words the model does not know: client and people names handed to Whisper as hot words.

Names are what a small model mishears most ("Philip steals" for Philip Steels, "to it
more" for Whittemore). The vocabulary of a transcription is, in this order and without
repeats: the client's name, the names of people in earlier meetings with that client and
of enrolled voice profiles, the client's own list (``qylon config set vocabulary.<client>
"..."``) and the global list (``transcribe.vocabulary``). faster-whisper puts them in the
prompt of every 30-second window (its ``hotwords``).
"""

from __future__ import annotations

import re

# Whisper's prompt holds about 220 tokens, of which hot words may take half.
MAX_CHARS = 300


def split(value) -> list[str]:
    if not value:
        return []
    items = value if isinstance(value, list) else re.split(r"[,;\n]", str(value))
    return [" ".join(str(i).split()) for i in items if str(i).strip()]


def _client_list(settings, client: str) -> list[str]:
    """``vocabulary.<client>``, the client's name matched without regard to case."""
    wanted = f"vocabulary.{client}".lower()
    return next((split(v.value) for v in settings.all() if v.key.lower() == wanted), [])


def people(client: str | None) -> list[str]:
    """Named speakers of earlier meetings with ``client``, then enrolled voice profiles (from the store)."""
    from ..store.database import Store

    store = Store()
    try:
        names = []
        if client:
            names += [
                r[0]
                for r in store.db.execute(
                    "SELECT DISTINCT s.name FROM speakers s JOIN meetings m ON m.id = s.meeting_id "
                    "WHERE lower(m.client) = lower(?) AND s.name IS NOT NULL ORDER BY s.name",
                    [client],
                )
            ]
        if "voice_profiles" in store.db.table_names():
            names += [
                r[0] for r in store.db.execute("SELECT name FROM voice_profiles ORDER BY name")
            ]
        return names
    finally:
        store.close()


def hotwords(settings, client: str | None) -> str | None:
    """The hot words for a transcription with ``client`` (None when there are none)."""
    words = ([client] if client else []) + people(client)
    if settings is not None:
        words += (_client_list(settings, client) if client else []) + split(
            settings.get("transcribe.vocabulary")
        )
    seen, kept, size = set(), [], 0
    for word in words:
        if word.lower() in seen or size + len(word) + 2 > MAX_CHARS:
            continue
        seen.add(word.lower())
        kept.append(word)
        size += len(word) + 2
    return ", ".join(kept) or None
