"""Voice profiles: enrolled speakers' embeddings, kept in the agent store, matched to clusters.

A profile is a name and one or more samples (a unit GE2E embedding of a clip's
speech, with where it came from). Its voice is the normalised mean of its
samples. A meeting's speaker takes a profile's name when their similarity
reaches ``MATCH_THRESHOLD``; each profile names at most one speaker per meeting
(the most similar). Profiles never leave the machine unless the user syncs them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qylon_cli.errors import InvalidInput, NotFound

from ..store import timestamps
from .embeddings import unit

# Cosine similarity between a meeting speaker's centre and a profile's voice above
# which they are the same person. Calibrated on real voices set aside for it
# (docs/speakers.md): the same person in other clips 0.92-0.96, other people 0.45-0.73.
MATCH_THRESHOLD = 0.83
MIN_SPEECH_S = 1.0  # less speech than this makes a poor profile


@dataclass
class Profile:
    id: str
    name: str
    samples: int
    speech_s: float
    created_at: str
    updated_at: str
    voice: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(256, dtype=np.float32))
    # (client or None, embedding) per sample: a sample learnt in a client's meeting names only in that client's meetings.
    by_client: list[tuple[str | None, np.ndarray]] = field(repr=False, default_factory=list)

    def public(self) -> dict:
        out = {
            k: getattr(self, k)
            for k in ("id", "name", "samples", "speech_s", "created_at", "updated_at")
        }
        out["clients"] = sorted({c for c, _ in self.by_client if c})
        return out

    def voice_for(self, client: str | None) -> np.ndarray | None:
        """The voice from the samples that apply to a meeting with ``client`` (None when none do)."""
        if not self.by_client:
            return self.voice if self.samples else None
        want = (client or "").casefold()
        embs = [e for c, e in self.by_client if c is None or (want and c.casefold() == want)]
        return unit(np.mean(embs, axis=0)) if embs else None


class Voices:
    """Profiles in the agent store (tables voice_profiles and voice_samples)."""

    def __init__(self, store):
        self.db = store.db

    def list(self) -> list[Profile]:
        rows = self.db.execute(
            "SELECT p.id, p.name, p.created_at, p.updated_at, s.embedding, s.duration_s, s.client "
            "FROM voice_profiles p LEFT JOIN voice_samples s ON s.profile_id = p.id ORDER BY p.name COLLATE NOCASE, s.id"
        ).fetchall()
        out: dict[str, dict] = {}
        for pid, name, created, updated, blob, dur, client in rows:
            entry = out.setdefault(
                pid,
                {
                    "name": name,
                    "created": created,
                    "updated": updated,
                    "embs": [],
                    "clients": [],
                    "speech": 0.0,
                },
            )
            if blob is not None:
                entry["embs"].append(np.frombuffer(blob, dtype=np.float32))
                entry["clients"].append(client)
                entry["speech"] += dur or 0.0
        return [
            Profile(
                id=pid,
                name=e["name"],
                samples=len(e["embs"]),
                speech_s=round(e["speech"], 1),
                created_at=e["created"],
                updated_at=e["updated"],
                voice=unit(np.mean(e["embs"], axis=0))
                if e["embs"]
                else np.zeros(256, dtype=np.float32),
                by_client=list(zip(e["clients"], e["embs"])),
            )
            for pid, e in out.items()
        ]

    def get(self, name: str) -> Profile:
        for p in self.list():
            if p.name.lower() == name.strip().lower():
                return p
        raise NotFound(
            f"No voice profile named {name!r}.", hint="`qylon speakers list` shows enrolled voices."
        )

    def add_samples(
        self, name: str, samples: list[tuple[str, float, np.ndarray]], *, client: str | None = None
    ) -> Profile:
        """Add (source, speech seconds, embedding) samples to ``name``'s profile, creating it if new;
        with ``client``, the samples name them only in that client's meetings."""
        name = name.strip()
        if not name or len(name) > 100 or "\n" in name:
            raise InvalidInput(
                f"{name!r} is not a usable name (1-100 characters on one line).",
                code="invalid_name",
            )
        now = timestamps.now()
        with self.db.atomic():
            row = self.db.execute(
                "SELECT id FROM voice_profiles WHERE name = ? COLLATE NOCASE", [name]
            ).fetchone()
            pid = row[0] if row else uuid.uuid4().hex[:12]
            if row:
                self.db.execute("UPDATE voice_profiles SET updated_at = ? WHERE id = ?", [now, pid])
            else:
                self.db["voice_profiles"].insert(
                    {"id": pid, "name": name, "created_at": now, "updated_at": now}
                )
            self.db["voice_samples"].insert_all(
                {
                    "profile_id": pid,
                    "source": src,
                    "duration_s": round(dur, 2),
                    "embedding": unit(emb).astype(np.float32).tobytes(),
                    "created_at": now,
                    "client": client,
                }
                for src, dur, emb in samples
            )
        return self.get(name)

    def remove(self, name: str) -> Profile:
        profile = self.get(name)
        with self.db.atomic():
            self.db.execute("DELETE FROM voice_samples WHERE profile_id = ?", [profile.id])
            self.db.execute("DELETE FROM voice_profiles WHERE id = ?", [profile.id])
        return profile


def match(
    centroids: np.ndarray, profiles: list[Profile], threshold: float = MATCH_THRESHOLD
) -> dict[int, str]:
    """Name speakers (rows of ``centroids``) after profiles, best pairs first, one speaker per profile."""
    return {i: name for i, (name, _) in match_scores(centroids, profiles, threshold).items()}


def match_scores(
    centroids: np.ndarray,
    profiles: list[Profile],
    threshold: float = MATCH_THRESHOLD,
    *,
    client: str | None = None,
) -> dict[int, tuple[str, float]]:
    """As ``match``, with each name's similarity; only the samples that apply to a meeting with ``client``."""
    usable = [(p, p.voice_for(client)) for p in profiles]
    usable = [(p, v) for p, v in usable if v is not None]
    profiles = [p for p, _ in usable]
    if not len(centroids) or not profiles:
        return {}
    sims = centroids @ np.stack([v for _, v in usable]).T
    named: dict[int, tuple[str, float]] = {}
    used: set[int] = set()
    for flat in np.argsort(-sims, axis=None):
        i, j = divmod(int(flat), len(profiles))
        if sims[i, j] < threshold:
            break
        if i not in named and j not in used:
            named[i] = (profiles[j].name, round(float(sims[i, j]), 3))
            used.add(j)
    return named


def embed_speech(
    audio, spans: list[tuple[float, float]] | None = None
) -> tuple[float, np.ndarray, int]:
    """(seconds of speech, embedding, voices heard) of the main voice in ``audio`` (or only within ``spans``).

    A clip with several voices is diarized and its longest-speaking voice used.
    """
    from . import diarize

    regions = diarize.speech_regions(audio.samples)
    if spans is not None:
        regions = [
            (max(a, s), min(b, e))
            for a, b in regions
            for s, e in spans
            if min(b, e) - max(a, s) > 0.05
        ]
    speech = sum(e - s for s, e in regions)
    if speech < MIN_SPEECH_S:
        raise InvalidInput(
            f"{audio.path}: only {speech:.1f} s of speech; a voice profile needs at least {MIN_SPEECH_S:.0f} s.",
            hint="Use a clip where the person speaks for several seconds (10-30 s is best).",
            code="too_little_speech",
        )
    result = diarize.diarize(
        audio, diarize.Options(num_speakers=1) if spans is not None else None, regions=regions
    )
    main = int(np.argmax(result.talk_time))
    return float(result.talk_time[main]), result.centroids[main], result.n_speakers


def enroll_files(voices: Voices, name: str, files: list[Path]) -> tuple[Profile, list[str]]:
    """Enroll ``name`` from audio files; returns the profile and warnings (e.g. several voices heard)."""
    from . import audio as audio_mod

    samples, warnings = [], []
    for path in files:
        seconds, emb, n = embed_speech(audio_mod.decode(path))
        if n > 1:
            warnings.append(
                f"{path}: {n} voices heard; the one speaking longest ({seconds:.0f} s) was enrolled."
            )
        samples.append((str(Path(path).resolve()), seconds, emb))
    return voices.add_samples(name, samples), warnings
