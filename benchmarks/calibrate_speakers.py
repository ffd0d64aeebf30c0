"""Calibrate the speaker thresholds on real voices that are not the reported ones.

    .venv/bin/python benchmarks/calibrate_speakers.py VOICES_DIR [--merge 0.58,0.62,0.66,0.70,0.75]
                                                       [--distinct 0.6,0.65,0.7] [--seed 1]

VOICES_DIR holds one folder per person, each with clips of that person alone (any
format Qylon decodes). The script joins clips of two, three and four people into
exchanges with pauses (some turns cut short, as "Yes." and "Right." are), takes each
clip's speech as the reference, and prints DER and the speakers found for every value
of ``diarize.MERGE_SIM`` and ``diarize.DISTINCT_SIM`` asked for; then, for profiles,
the similarity of each person's enrolled voice (half their clips) to their own cluster
and to everyone else's in a meeting made of the other half (``voices.MATCH_THRESHOLD``).

docs/speakers.md says which material the shipped thresholds came from. Never point this
at the files the benchmarks report (../shared/data): that would tune on the answer.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

RATE = 16000


def load_people(root: Path) -> dict[str, list[np.ndarray]]:
    from qylon_agent.speech import audio

    people = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        clips = [audio.decode(f).samples for f in sorted(folder.iterdir()) if f.is_file()]
        if clips:
            people[folder.name] = clips
    if len(people) < 2:
        sys.exit(f"{root}: need folders of at least two people, found {len(people)}")
    return people


def join(turns, rng):
    """(audio, reference) from (samples, who) turns with 0.2-0.9 s pauses."""
    from qylon_agent.speech import diarize
    from qylon_agent.speech.audio import Audio

    parts, ref, t = [], [], 0.0
    for x, who in turns:
        gap = float(rng.uniform(0.2, 0.9))
        parts += [np.zeros(int(gap * RATE), np.float32), x.astype(np.float32)]
        t += gap
        ref += [(t + s, t + e, who) for s, e in diarize.speech_regions(x)]
        t += len(x) / RATE
    samples = np.concatenate(parts)
    return Audio(
        path=Path("joined.wav"),
        samples=samples,
        channels=None,
        original_rate=RATE,
        original_channels=1,
    ), ref


def meetings(people, rng):
    """Two-, three- and four-person exchanges, some turns cut to under a second."""
    out = []
    names = list(people)
    for size in (2, 3, 4):
        for group in list(itertools.combinations(names, size))[:3]:
            turns = []
            for k in range(3 * size):
                who = group[k % size]
                clip = people[who][k % len(people[who])]
                if rng.random() < 0.2:
                    clip = clip[: int(rng.uniform(0.6, 1.0) * RATE)]
                turns.append((clip, who))
            out.append((f"{size} people: {', '.join(group)}", *join(turns, rng)))
    return out


def sweep(items, merges, distincts) -> None:
    import der  # benchmarks/der.py, beside this script
    from qylon_agent.speech import diarize

    print(f"{'merge':>6} {'distinct':>8} {'mean DER':>9} {'counts right':>12}")
    for merge, distinct in itertools.product(merges, distincts):
        diarize.MERGE_SIM, diarize.DISTINCT_SIM = merge, distinct
        ders, right = [], 0
        for _, audio, ref in items:
            result = diarize.diarize(audio)
            hyp = [(t.start, t.end, str(t.speaker)) for t in result.turns]
            ders.append(der.score(ref, hyp).der)
            right += result.n_speakers == len({r[2] for r in ref})
        print(f"{merge:6.2f} {distinct:8.2f} {np.mean(ders):9.1%} {right:>5}/{len(items)}")


def profiles(people, rng) -> None:
    from qylon_agent.speech import diarize, voices

    half = {
        who: (clips[::2], clips[1::2]) for who, clips in people.items() if len(clips) >= 2
    }  # enrol on one half
    enrolled = {
        who: voices.embed_speech(join([(c, who) for c in a], rng)[0])[1]
        for who, (a, _) in half.items()
    }
    turns = [(clip, who) for who, (_, b) in half.items() for clip in b]
    rng.shuffle(turns)
    audio, ref = join(turns, rng)
    result = diarize.diarize(audio)
    own, other = [], []
    for k in range(result.n_speakers):
        mine = {}
        for t in result.turns:
            if t.speaker == k:
                for s, e, who in ref:
                    mine[who] = mine.get(who, 0.0) + max(0.0, min(e, t.end) - max(s, t.start))
        if not mine:
            continue
        truth = max(mine, key=mine.get)
        for who, voice in enrolled.items():
            (own if who == truth else other).append(float(result.centroids[k] @ voice))
    print(
        f"profiles: same person {min(own, default=float('nan')):.2f}-{max(own, default=float('nan')):.2f}, "
        f"others {min(other, default=float('nan')):.2f}-{max(other, default=float('nan')):.2f} "
        f"(threshold now {voices.MATCH_THRESHOLD})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("voices", type=Path)
    parser.add_argument("--merge", default="0.58,0.62,0.66,0.70,0.75")
    parser.add_argument("--distinct", default="0.65")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    people = load_people(args.voices)
    items = meetings(people, rng)
    sweep(
        items,
        [float(x) for x in args.merge.split(",")],
        [float(x) for x in args.distinct.split(",")],
    )
    profiles(people, rng)


if __name__ == "__main__":
    main()
