"""The offline extractor's sentence classifier (issue 14): train it on AMI, and measure it.

    QYLON_SHARED=../shared .venv/bin/python benchmarks/ami_classifier.py           # 4-fold CV
    QYLON_SHARED=../shared .venv/bin/python benchmarks/ami_classifier.py --train   # ship weights

Sentences, features and the model are ``qylon_agent.insights.classifier``'s: each sentence
of four words or more (fillers removed), embedded with WordLlama's packaged
``l2_supercat`` model, plus a few surface features. A sentence is labelled positive when
it matches one of its meeting's annotated actions by ``ami.py``'s rule (the rule that
scores), its owner a role the sentence names, else the speaker ("I'll ..."), else the next
speaker ("you ..."). A logistic regression (NumPy, class-balanced, L2) learns from the
labels of the **tuning part only**; the held-out part is never read here.

``--train`` fits on the whole tuning part and writes the weights the agent ships
(``agent/qylon_agent/insights/action_sentences.json``). Without it, the whole offline
extractor (the classifier chooses, the rules phrase) is scored by 4-fold cross-validation
over series on the tuning part: each fold's meetings are scored with a model trained on
the other folds' series (other people). Scoring is ``ami.score``'s (actions.py --ami).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ami
from qylon_agent.insights import classifier, offline

ROLES = (
    ("PM", r"project manager"),
    ("ME", r"marketing"),
    ("UI", r"user interface|interface designer|\bui\b"),
    ("ID", r"industrial"),
)


def owner(c) -> str | None:
    low = c.text.lower()
    for role, pattern in ROLES:
        if re.search(pattern, low):
            return ami.ROLE_NAMES[role]
    role = lambda label: ami.ROLE_NAMES.get(label.rsplit("_", 1)[-1])
    if re.search(r"\b(i'll|i will|i'm going to|i am going to|i can|let me)\b", low):
        return role(c.speaker)
    if re.search(r"\b(you|your)\b", low) and c.next != c.speaker:
        return role(c.next)
    return role(c.speaker)


def fit(X: np.ndarray, y: np.ndarray, l2: float = 1.0, epochs: int = 300, rate: float = 0.5):
    """Class-balanced L2 logistic regression by gradient descent on standardised features;
    the weights returned apply to the raw features."""
    mean, scale = X.mean(0), X.std(0) + 1e-6
    Xn = (X - mean) / scale
    w, b = np.zeros(X.shape[1]), 0.0
    share = y.mean()
    weight = np.where(y == 1, 0.5 / max(share, 1e-6), 0.5 / (1 - share))
    for _ in range(epochs):
        g = (1 / (1 + np.exp(-(Xn @ w + b))) - y) * weight
        w -= rate * (Xn.T @ g / len(y) + l2 * w / len(y))
        b -= rate * g.mean()
    return classifier.Weights(w / scale, b - float((mean / scale) @ w))


def labelled(part: str = "tuning") -> dict:
    """Each meeting of the part: (meeting, features, labels)."""
    notes = ami.load_annotations()
    data = {}
    for path in sorted((ami.data_dir() / "transcripts").glob("*.transcript.tsv")):
        if ami.part_of(path.name[:7]) != part:
            continue
        meeting = ami.load_meeting(path)
        cands = classifier.candidates(meeting)
        X = classifier.features(cands, classifier.embedder().embed([c.text for c in cands]))
        acts = notes.get(meeting.id, {}).get("actions", [])
        y = np.array(
            [
                any(ami.task_matches(c.text, a) and ami.owner_matches(owner(c), a) for a in acts)
                for c in cands
            ],
            dtype=np.float32,
        )
        data[meeting.id] = (meeting, X, y)
    return data


def train(data: dict, ids) -> classifier.Weights:
    return fit(np.vstack([data[i][1] for i in ids]), np.concatenate([data[i][2] for i in ids]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="fit on the tuning part, ship weights")
    args = parser.parse_args()
    try:
        began = time.perf_counter()
        classifier.embedder()
        load_s = time.perf_counter() - began
    except ImportError:
        sys.exit("needs wordllama: .venv/bin/pip install wordllama==0.4.0.post1")
    data = labelled("tuning")
    tuning = sorted(data)
    if args.train:
        weights = train(data, tuning)
        classifier.WEIGHTS.write_text(
            weights.to_json(
                model=f"wordllama {classifier.MODEL} ({classifier.DIM} dimensions)",
                trained_on=f"AMI tuning part ({len(tuning)} meetings), benchmarks/ami_classifier.py --train",
                features=f"{classifier.DIM} embedding dimensions, then "
                + " ".join(classifier.surface.__doc__.split()),
                cues=list(classifier.CUES),
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"wrote {classifier.WEIGHTS} ({len(weights.w)} weights)")
        return
    series = sorted({i[:6] for i in tuning})
    folds = [set(series[f::4]) for f in range(4)]
    fold_of = {i: next(n for n, f in enumerate(folds) if i[:6] in f) for i in tuning}
    per_fold = [train(data, [i for i in tuning if fold_of[i] != n]) for n in range(4)]
    figures = ami.score(
        lambda m: offline.extract(m, weights=per_fold[fold_of[m.id]]),
        part="tuning",
        report=lambda *_: None,
    )
    figures["model_load_s"] = round(load_s, 2)
    print(json.dumps({"tuning_cv": figures}))


if __name__ == "__main__":
    main()
