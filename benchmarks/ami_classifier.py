"""An approach to issue 14 measured: action items by a sentence classifier, on AMI.

    .venv/bin/pip install wordllama==0.4.0.post1     # not a dependency of Qylon (yet)
    QYLON_SHARED=../shared .venv/bin/python benchmarks/ami_classifier.py [--k 4]

Each sentence of a meeting (fillers removed, four words or more) is embedded with
WordLlama's packaged model (``l2_supercat``, 256 dimensions, MIT; its weights ship in the
wheel, loaded here with downloads disabled) and given a few surface features (place in
the meeting, length, the speaker is the project manager, "will", "next", "you", ...).
A logistic regression (NumPy, class-balanced, L2) learns which sentences state an
annotated action: a sentence is labelled positive when it matches one of the meeting's
annotated actions by ``ami.py``'s rule (the same rule that scores). A meeting's items are
its ``--k`` most likely sentences, less near-duplicates (cosine over 0.8); the owner is a
role the sentence names, else the speaker ("I'll ..."), else the next speaker ("you ...").

Figures: the tuning part by 4-fold cross-validation over series (each fold's people are
unseen by its model), then the held-out part once, with a model trained on the whole
tuning part. Scoring is ``ami.score``'s (benchmarks/actions.py --ami).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ami

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
ROLES = (
    ("PM", r"project manager"),
    ("ME", r"marketing"),
    ("UI", r"user interface|interface designer|\bui\b"),
    ("ID", r"industrial"),
)


def model():
    """WordLlama's packaged model, offline (its loader looks for the packaged tokenizer
    under a wrong folder name, so a cache folder points at it)."""
    import tempfile

    import wordllama
    from wordllama import WordLlama

    cache = Path(tempfile.mkdtemp(prefix="wordllama-"))
    (cache / "tokenizers").mkdir()
    packaged = Path(wordllama.__file__).parent / "tokenizers" / "l2_supercat_tokenizer_config.json"
    (cache / "tokenizers" / packaged.name).symlink_to(packaged)
    return WordLlama.load(cache_dir=cache, disable_download=True)


def sentences(meeting) -> list[dict]:
    out, segs = [], meeting.segments
    length = max(meeting.duration_s, 1.0)
    for i, seg in enumerate(segs):
        for sentence in re.split(r"(?<=[.?!])\s+", seg.text):
            text = re.sub(r"\s+", " ", FILLER.sub("", sentence)).strip(" ,.")
            if len(text.split()) >= 4:
                after = segs[i + 1].speaker if i + 1 < len(segs) else seg.speaker
                out.append(
                    {"text": text, "speaker": seg.speaker, "next": after, "at": seg.start / length}
                )
    return out


def owner(c: dict) -> str | None:
    low = c["text"].lower()
    for role, pattern in ROLES:
        if re.search(pattern, low):
            return ami.ROLE_NAMES[role]
    role = lambda label: ami.ROLE_NAMES.get(label.rsplit("_", 1)[-1])
    if re.search(r"\b(i'll|i will|i'm going to|i am going to|i can|let me)\b", low):
        return role(c["speaker"])
    if re.search(r"\b(you|your)\b", low) and c["next"] != c["speaker"]:
        return role(c["next"])
    return role(c["speaker"])


def features(cands: list[dict], vectors: np.ndarray) -> np.ndarray:
    surface = [
        [c["at"], c["at"] ** 2, min(len(c["text"].split()), 40) / 40, c["speaker"].endswith("PM")]
        + [bool(re.search(cue, c["text"].lower())) for cue in CUES]
        for c in cands
    ]
    return np.hstack([vectors, np.array(surface, dtype=np.float32)])


def fit(X: np.ndarray, y: np.ndarray, l2: float = 1.0, epochs: int = 300, rate: float = 0.5):
    mean, scale = X.mean(0), X.std(0) + 1e-6
    Xn = (X - mean) / scale
    w, b = np.zeros(X.shape[1]), 0.0
    share = y.mean()
    weight = np.where(y == 1, 0.5 / max(share, 1e-6), 0.5 / (1 - share))
    for _ in range(epochs):
        g = (1 / (1 + np.exp(-(Xn @ w + b))) - y) * weight
        w -= rate * (Xn.T @ g / len(y) + l2 * w / len(y))
        b -= rate * g.mean()
    return lambda Z: 1 / (1 + np.exp(-(((Z - mean) / scale) @ w + b)))


class Item:
    def __init__(self, owner, task):
        self.owner, self.task = owner, task


class Result:
    def __init__(self, items):
        self.items, self.summary = items, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4, help="items per meeting at most")
    args = parser.parse_args()
    try:
        embedder = model()
    except ImportError:
        sys.exit("needs wordllama: .venv/bin/pip install wordllama==0.4.0.post1")
    notes = ami.load_annotations()
    data, embed_s = {}, []
    for path in sorted((ami.data_dir() / "transcripts").glob("*.transcript.tsv")):
        meeting = ami.load_meeting(path)
        began = time.perf_counter()
        cands = sentences(meeting)
        X = features(cands, embedder.embed([c["text"] for c in cands]))
        embed_s.append(time.perf_counter() - began)
        acts = notes.get(meeting.id, {}).get("actions", [])
        y = np.array(
            [
                any(ami.task_matches(c["text"], a) and ami.owner_matches(owner(c), a) for a in acts)
                for c in cands
            ],
            dtype=np.float32,
        )
        data[meeting.id] = (cands, X, y)

    def extractor(ids):
        predict = fit(
            np.vstack([data[i][1] for i in ids]), np.concatenate([data[i][2] for i in ids])
        )

        def extract(meeting):
            cands, X, _ = data[meeting.id]
            p, unit = (
                predict(X),
                X[:, :256] / (np.linalg.norm(X[:, :256], axis=1, keepdims=True) + 1e-9),
            )
            chosen: list[int] = []
            for j in np.argsort(-p):
                if len(chosen) == args.k:
                    break
                if all(float(unit[j] @ unit[c]) <= 0.8 for c in chosen):
                    chosen.append(int(j))
            return Result([Item(owner(cands[j]), cands[j]["text"]) for j in chosen])

        return extract

    tuning = [i for i in data if ami.part_of(i) == "tuning"]
    series = sorted({i[:6] for i in tuning})
    folds = [set(series[f::4]) for f in range(4)]
    fold_of = {i: next(n for n, f in enumerate(folds) if i[:6] in f) for i in tuning}
    per_fold = [extractor([i for i in tuning if fold_of[i] != n]) for n in range(4)]
    cv = ami.score(lambda m: per_fold[fold_of[m.id]](m), part="tuning", report=lambda *_: None)
    held = ami.score(extractor(tuning), part="held_out", report=lambda *_: None)
    tracemalloc.start()
    embedder.embed([c["text"] for c in data[tuning[0]][0]])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    for name, figures in (("tuning (4-fold, series unseen)", cv), ("held-out (once)", held)):
        print(
            f"{name:<32} recall {figures['recall']:.3f}  precision {figures['precision']:.3f}  "
            f"items/meeting {figures['items_per_meeting']:.1f}"
        )
    print(
        json.dumps(
            {
                "k": args.k,
                "embed_and_features_ms_per_meeting": round(1000 * sum(embed_s) / len(embed_s), 1),
                "embed_peak_kib": round(peak / 1024),
                "tuning_cv": {k: cv[k] for k in ("recall", "precision", "items_per_meeting")},
                "held_out": {k: held[k] for k in ("recall", "precision", "items_per_meeting")},
            }
        )
    )


if __name__ == "__main__":
    main()
