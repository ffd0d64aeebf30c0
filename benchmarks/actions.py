"""Quality of the offline action-item extractor on the labelled meetings in benchmarks/data/actions/.

Usage: python benchmarks/actions.py [--json] [--verbose] [--files GLOB]
       python benchmarks/actions.py --ami [tuning|held_out|all] [--json] [--verbose]

``--ami`` scores on real meetings (the AMI corpus; see benchmarks/ami.py for the
held-out split and the matching rule that fits summary-level annotations).

Each labelled meeting (TOML) has a date, a transcript ("Name: text" lines, one
turn each) and the expected items (owner, task, due) and decisions.

Matching rule (the same for every extractor): a found item matches an expected
one when the owners are equal (case-insensitive; both absent also counts) and the
tasks agree by ``qylon_agent.text.similar`` — stemmed content words with
Jaccard similarity >= 0.5, or the smaller set (of at least two words) two-thirds
inside the larger. Each expected item matches at most one found item (greedy, in
transcript order). Precision = matched / found, recall = matched / expected, F1
their harmonic mean. Due-date accuracy = matched pairs whose due dates are equal
(both absent counts as equal) / matched pairs. Decisions are scored the same way
on their text alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "actions"


def load(path: Path):
    from qylon_cli.schemas import Meeting, Segment, Speaker

    spec = tomllib.loads(path.read_text(encoding="utf-8"))
    ref = date.fromisoformat(spec["date"])
    labels: dict[str, str] = {}
    segments, clock = [], 0.0
    for line in spec["transcript"].strip().splitlines():
        who, text = line.split(":", 1)
        label = labels.setdefault(who.strip(), f"SPEAKER_{len(labels) + 1}")
        seconds = max(1.5, len(text.split()) * 0.4)
        segments.append(
            Segment(
                start=round(clock, 2),
                end=round(clock + seconds, 2),
                speaker=label,
                text=text.strip(),
            )
        )
        clock += seconds + 0.5
    meeting = Meeting(
        id=path.stem,
        title=spec["title"],
        created_at=datetime(ref.year, ref.month, ref.day, 10, tzinfo=UTC),
        duration_s=clock,
        segments=segments,
        speakers=[Speaker(id=label, name=name) for name, label in labels.items()],
    )
    return meeting, ref, spec.get("items", []), spec.get("decisions", [])


def match(found, expected) -> list[tuple[int, int]]:
    from qylon_agent.text import similar

    pairs, used = [], set()
    for ei, exp in enumerate(expected):
        for fi, item in enumerate(found):
            if fi in used:
                continue
            owner_ok = (item["owner"] or "").lower() == (exp.get("owner") or "").lower()
            if owner_ok and similar(item["task"], exp["task"]):
                pairs.append((ei, fi))
                used.add(fi)
                break
    return pairs


def score(extract=None, verbose: bool = False, pattern: str = "*.toml") -> dict:
    from qylon_agent.insights import offline

    extract = extract or offline.extract
    totals = {
        "found": 0,
        "expected": 0,
        "matched": 0,
        "due_ok": 0,
        "dec_found": 0,
        "dec_expected": 0,
        "dec_matched": 0,
    }
    started = time.perf_counter()
    files = sorted(DATA.glob(pattern))
    for path in files:
        meeting, ref, expected, exp_decisions = load(path)
        result = extract(meeting, ref)
        found = [{"owner": i.owner, "task": i.task, "due": i.due} for i in result.items]
        pairs = match(found, expected)
        totals["found"] += len(found)
        totals["expected"] += len(expected)
        totals["matched"] += len(pairs)
        due_ok = sum(
            1
            for ei, fi in pairs
            if (found[fi]["due"].isoformat() if found[fi]["due"] else None)
            == expected[ei].get("due")
        )
        totals["due_ok"] += due_ok
        dpairs = match(
            [{"owner": None, "task": d} for d in result.decisions],
            [{"task": d} for d in exp_decisions],
        )
        totals["dec_found"] += len(result.decisions)
        totals["dec_expected"] += len(exp_decisions)
        totals["dec_matched"] += len(dpairs)
        if verbose and (
            len(pairs) != len(found) or len(pairs) != len(expected) or due_ok != len(pairs)
        ):
            print(f"--- {path.name}", file=sys.stderr)
            for fi, item in enumerate(found):
                mark = "ok " if any(f == fi for _, f in pairs) else "FP "
                print(
                    f"  {mark}{item['owner']}: {item['task']} (due {item['due']})", file=sys.stderr
                )
            for ei, exp in enumerate(expected):
                if not any(e == ei for e, _ in pairs):
                    print(
                        f"  FN {exp.get('owner')}: {exp['task']} (due {exp.get('due')})",
                        file=sys.stderr,
                    )
    elapsed = time.perf_counter() - started

    def ratio(a, b):
        return round(a / b, 3) if b else 1.0

    p, r = ratio(totals["matched"], totals["found"]), ratio(totals["matched"], totals["expected"])
    return {
        "meetings": len(files),
        "expected_items": totals["expected"],
        "found_items": totals["found"],
        "precision": p,
        "recall": r,
        "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
        "due_accuracy": ratio(totals["due_ok"], totals["matched"]),
        "decision_precision": ratio(totals["dec_matched"], totals["dec_found"]),
        "decision_recall": ratio(totals["dec_matched"], totals["dec_expected"]),
        "ms_per_meeting": round(elapsed * 1000 / max(len(files), 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--verbose", action="store_true", help="list misses on stderr")
    parser.add_argument(
        "--files",
        default="*.toml",
        help="only labelled meetings matching this glob, e.g. '2[4-9]_*'",
    )
    parser.add_argument(
        "--ami",
        nargs="?",
        const="tuning",
        choices=("tuning", "held_out", "all"),
        help="score on the AMI meetings instead (default part: tuning)",
    )
    args = parser.parse_args()
    if args.ami:
        ami_main(args)
        return
    figures = score(
        verbose=args.verbose,
        pattern=args.files if args.files.endswith(".toml") else args.files + ".toml",
    )
    show(
        args,
        figures,
        f"offline extractor on {figures['meetings']} labelled meetings ({args.files}) "
        f"({figures['expected_items']} expected items, {figures['found_items']} found)",
        (
            "precision",
            "recall",
            "f1",
            "due_accuracy",
            "decision_precision",
            "decision_recall",
            "ms_per_meeting",
        ),
    )


def ami_main(args) -> None:
    import ami
    from qylon_agent.insights import offline

    figures = ami.score(
        offline.extract,
        part=args.ami,
        verbose=args.verbose,
        report=lambda line: print(line, file=sys.stderr),
    )
    show(
        args,
        figures,
        f"offline extractor on AMI, {figures['part']} part: {figures['meetings']} meetings, "
        f"{figures['annotated_actions']} annotated actions, {figures['items']} items found",
        (
            "recall",
            "precision",
            "precision_actions_only",
            "items_per_meeting",
            "summary_words_in_abstract",
            "first_lines_words_in_abstract",
            "ms_per_meeting",
            "ms_max",
            "peak_kib_max",
        ),
    )


def show(args, figures: dict, title: str, keys) -> None:
    if args.json:
        print(json.dumps(figures))
        return
    print(title)
    for key in keys:
        print(f"  {key:<22} {figures[key]}")


if __name__ == "__main__":
    main()
