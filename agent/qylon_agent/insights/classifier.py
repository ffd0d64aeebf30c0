"""Which sentences of a real, spoken meeting state an action: a small sentence classifier.

On real speech the rules alone find too little and too much (issue 14). Here each
sentence of four words or more (fillers removed) is embedded with WordLlama's packaged
model (``l2_supercat``, 256 dimensions, MIT; its weights ship in the ``wordllama``
wheel and load with no download) and given a few surface features (place in the
meeting, length, whether its speaker talks most, "will", "next", "you", ...). A
logistic regression, trained on the AMI tuning meetings by
``benchmarks/ami_classifier.py --train``, gives each sentence the chance that it states
an action; its weights ship beside this module (``action_sentences.json``, NumPy
only at run time). ``ranked`` orders a meeting's sentences best first; the offline
extractor takes the first ``k_for`` of them that it can phrase as a task, near-duplicates
(cosine over 0.8) of one already taken left out.

The model loads lazily, once per process (about 0.5 s, 20 MB), and only when a long
spoken meeting is analysed.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from qylon_cli.schemas import Meeting

MODEL = "l2_supercat"
DIM = 256
WEIGHTS = Path(__file__).with_name("action_sentences.json")
MIN_WORDS = 400  # shorter transcripts (snippets, scripted exchanges) are left to the rules
WORDS_PER_ITEM = (
    1000  # one item per 1,000 words: about 5 in a 30-minute meeting (annotators list 2.3)
)
NEAR_DUPLICATE = 0.8

FILLER = re.compile(
    r"\b(um+|uh+|mm-hmm|hmm+|er+|ah+|oh|okay|right|yeah|so|well|like)\b[,.]?\s*", re.IGNORECASE
)
CUES = (
    r"\bwill\b|'ll\b",
    r"\bnext\b",
    r"\bgoing to\b|gonna",
    r"\byou\b",
    r"\bi\b",
    r"\bwe\b",
    r"\bshould\b",
    r"\bhave to\b|\bneed to\b",
    r"\?$",
    r"\blook (at|into)\b",
    r"\bwork on\b",
)


@dataclass
class Candidate:
    """One sentence: ``text`` without fillers (what the model reads), ``raw`` as said."""

    text: str
    raw: str
    speaker: str | None
    next: str | None  # who speaks after this turn: the "you" of "you'll ..."
    at: float  # place in the meeting, 0 to 1
    lead: bool  # its speaker talks most in the meeting (the chair, most often)
    segment: int


def words(meeting: Meeting) -> int:
    return sum(len(seg.text.split()) for seg in meeting.segments)


def applies(meeting: Meeting) -> bool:
    """Whether the classifier chooses this meeting's items: a real conversation, long enough to rank."""
    return words(meeting) >= MIN_WORDS


def k_for(meeting: Meeting) -> int:
    """How many items a meeting gets at most: 2 to 8, growing with its length."""
    return max(2, min(8, round(words(meeting) / WORDS_PER_ITEM)))


def candidates(meeting: Meeting) -> list[Candidate]:
    segs = meeting.segments
    length = max(meeting.duration_s, segs[-1].end if segs else 0.0, 1.0)
    talk: dict[str | None, int] = {}
    for seg in segs:
        talk[seg.speaker] = talk.get(seg.speaker, 0) + len(seg.text.split())
    lead = max(talk, key=talk.get) if talk else None
    out = []
    for i, seg in enumerate(segs):
        after = segs[i + 1].speaker if i + 1 < len(segs) else seg.speaker
        for sentence in re.split(r"(?<=[.?!])\s+", seg.text):
            text = re.sub(r"\s+", " ", FILLER.sub("", sentence)).strip(" ,.")
            if len(text.split()) >= 4:
                out.append(
                    Candidate(
                        text,
                        sentence,
                        seg.speaker,
                        after,
                        seg.start / length,
                        seg.speaker == lead,
                        i,
                    )
                )
    return out


def surface(cands: list[Candidate]):
    """place in the meeting, its square, length (words / 40, at most 1), its speaker talks most,
    and a flag for each of CUES"""
    import numpy as np

    return np.array(
        [
            [c.at, c.at**2, min(len(c.text.split()), 40) / 40, c.lead]
            + [bool(re.search(cue, c.text.lower())) for cue in CUES]
            for c in cands
        ],
        dtype=np.float32,
    ).reshape(len(cands), 4 + len(CUES))


def features(cands: list[Candidate], vectors):
    import numpy as np

    return np.hstack([vectors, surface(cands)])


@functools.cache
def embedder():
    """WordLlama's packaged model, read from the installed wheel (no download, no cache folder)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama  # its import calls logging.basicConfig(level=INFO): undone below
        from safetensors import safe_open
        from tokenizers import Tokenizer
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    package = Path(wordllama.__file__).parent
    tokenizer = Tokenizer.from_file(str(package / "tokenizers" / f"{MODEL}_tokenizer_config.json"))
    with safe_open(
        str(package / "weights" / f"{MODEL}_{DIM}.safetensors"), framework="np", device="cpu"
    ) as f:
        embedding = f.get_tensor("embedding.weight")
    return wordllama.WordLlamaInference(embedding, tokenizer)


@dataclass
class Weights:
    """The logistic regression on raw features: p = sigmoid(X @ w + b)."""

    w: object  # numpy array, one weight a feature
    b: float

    def predict(self, X):
        import numpy as np

        return 1 / (1 + np.exp(-(X @ self.w + self.b)))

    def to_json(self, **about) -> str:
        return json.dumps(
            {
                **about,
                "bias": round(float(self.b), 6),
                "weights": [round(float(v), 6) for v in self.w],
            }
        )


@functools.cache
def shipped() -> Weights:
    import numpy as np

    raw = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    w = np.array(raw["weights"], dtype=np.float32)
    if len(w) != DIM + 4 + len(CUES):
        raise ValueError(f"{WEIGHTS.name}: {len(w)} weights, expected {DIM + 4 + len(CUES)}")
    return Weights(w, float(raw["bias"]))


def ranked(cands: list[Candidate], weights: Weights | None = None):
    """``cands``' indices, most likely action first, and their unit vectors (for ``near_duplicate``)."""
    import numpy as np

    if not cands:
        return [], np.zeros((0, DIM), dtype=np.float32)
    vectors = embedder().embed([c.text for c in cands])
    p = (weights or shipped()).predict(features(cands, vectors))
    unit = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9)
    return [int(j) for j in np.argsort(-p, kind="stable")], unit


def near_duplicate(unit, j: int, kept: list[int]) -> bool:
    return any(float(unit[j] @ unit[c]) > NEAR_DUPLICATE for c in kept)
