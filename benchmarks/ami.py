"""Action items on real meetings: the AMI corpus (human transcripts, annotators' summary-level lists).

Used by ``benchmarks/actions.py --ami``. Data: ``$QYLON_SHARED/data/ami`` (100 meetings
of the ES and TS series, four participants each: project manager PM, marketing expert
ME, user-interface designer UI, industrial designer ID). AMI Meeting Corpus, Carletta
et al., 2005, CC BY 4.0.

The held-out part was fixed before any rule was tuned on this corpus and is never
used for tuning: every fourth series (ES2005, ES2009, ES2013, TS3004, TS3008, TS3012;
24 meetings, other people than in the tuning part). The other 76 meetings are the
tuning part.

Each meeting becomes a Meeting with one segment per turn; speakers are named after
their role ("Project Manager", ...), as the meetings issue's speaker naming would name
them. The annotations are summary-level ("The marketing expert will work on trend
watching"), so the matching rule fits that (fixed before tuning, the same for every
extractor):

- content words: ``merge.content_words`` (stemmed, stopwords out) less words any
  action in this corpus carries (will, work, remote, control, think, ...) and less
  role words (industrial, designer, marketing, ...) unless nothing else is left;
- an item's task matches an annotation when they share at least two content words,
  or one that is at least half of the annotation's content words;
- an item matches an annotated action when its task matches and its owner resolves
  to one of the roles the annotation names (an owner "Marketing Expert", "the
  designer", a PM's "we"); an annotation naming no role ("the team", "the group",
  "all members") takes any owner;
- recall: annotated actions matched by at least one item; precision: items matching
  an annotated action, or by their words a decision or a problem.

The summary is compared with the annotators' abstract: the share of its content words
that the abstract uses too, next to the same figure for the meeting's first three turns.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

HELD_OUT_SERIES = ("ES2005", "ES2009", "ES2013", "TS3004", "TS3008", "TS3012")
ROLE_NAMES = {
    "PM": "Project Manager",
    "ME": "Marketing Expert",
    "UI": "User Interface Designer",
    "ID": "Industrial Designer",
}
GENERIC = {
    "will",
    "work",
    "remote",
    "control",
    "think",
    "thinking",
    "look",
    "going",
    "go",
    "gonna",
    "do",
    "make",
    "get",
    "try",
    "need",
    "thing",
    "things",
    "meeting",
    "next",
    "should",
    "would",
    "can",
    "could",
    "have",
    "has",
    "had",
    "be",
    "been",
    "being",
    "want",
    "wanna",
    "start",
    "begin",
    "continue",
    "come",
    "up",
    "idea",
    "ideas",
}
ROLE_WORDS = {
    "industrial",
    "designer",
    "designers",
    "interface",
    "user",
    "marketing",
    "expert",
    "executive",
    "specialist",
    "project",
    "manager",
    "team",
    "group",
    "member",
    "members",
    "participant",
    "participants",
    "everyone",
    "all",
}


def data_dir() -> Path:
    root = Path(
        os.environ.get("QYLON_SHARED") or Path(__file__).resolve().parents[1].parent / "shared"
    )
    return root / "data" / "ami"


def part_of(meeting_id: str) -> str:
    return "held_out" if meeting_id[:6] in HELD_OUT_SERIES else "tuning"


def load_meeting(path: Path):
    from qylon_cli.schemas import Meeting, Segment, Speaker

    with path.open(encoding="utf-8", newline="") as fh:
        rows = sorted(csv.DictReader(fh, delimiter="\t"), key=lambda r: float(r["start"]))
    segments = [
        Segment(
            start=float(r["start"]),
            end=max(float(r["end"]), float(r["start"])),
            speaker=r["speaker"],
            text=r["text"].strip(),
        )
        for r in rows
        if r["text"].strip()
    ]
    labels = sorted({s.speaker for s in segments})
    speakers = [
        Speaker(id=label, name=ROLE_NAMES.get(label.rsplit("_", 1)[-1])) for label in labels
    ]
    meeting_id = path.name.split(".")[0]
    return Meeting(
        id=meeting_id,
        title=f"AMI {meeting_id}",
        created_at=datetime(2005, 1, 10, 10, tzinfo=UTC),
        duration_s=segments[-1].end if segments else 0.0,
        segments=segments,
        speakers=speakers,
    )


def roles_in(text: str | None) -> set[str]:
    """The roles a phrase names: 'The industrial designer and the UI', 'Marketing Expert', 'FEE005_PM'."""
    if not text:
        return set()
    low = text.lower()
    found = set()
    m = re.search(r"_(PM|ME|UI|ID)\b", text)
    if m:
        found.add(m.group(1))
    if re.search(r"project manager|\bmanager\b|\bpm\b", low):
        found.add("PM")
    if re.search(r"marketing|\bme\b(?= will)", low):
        found.add("ME")
    if re.search(r"interface|\bui\b", low):
        found.add("UI")
    if re.search(r"industrial|\bid\b", low):
        found.add("ID")
    if not found and re.search(r"\bdesigners?\b", low):
        found |= {"ID", "UI"}
    return found


def words(text: str) -> tuple[set[str], set[str]]:
    """(content words less generic and role words, content words less generic words)."""
    from qylon_agent.text import content_words

    base = {w for w in content_words(text) if w not in GENERIC and w.rstrip("e") not in GENERIC}
    specific = {
        w
        for w in base
        if w not in ROLE_WORDS and w + "e" not in ROLE_WORDS and w + "s" not in ROLE_WORDS
    }
    return specific, base


def task_matches(task: str, annotation: str) -> bool:
    (a, a_base), (t, t_base) = words(annotation), words(task)
    if not a:  # "will work on the user interface": the role words are the task
        a, t = a_base, t_base
    shared = len(a & t)
    return shared >= 2 or (shared >= 1 and shared * 2 >= len(a))


def owner_matches(owner: str | None, annotation: str) -> bool:
    wanted = roles_in(
        re.split(
            r"\bwill\b|\bare to\b|\bis to\b|\bshould\b|\bhas to\b|\bhave to\b|\bneeds? to\b",
            annotation,
        )[0]
    )
    return not wanted or bool(roles_in(owner) & wanted)


def content(text: str) -> set[str]:
    """Content words of a summary, for comparing it with the annotators' abstract."""
    from qylon_agent.text import content_words

    return {w for w in content_words(text) if len(w) > 2 and w not in GENERIC}


def load_annotations() -> dict:
    raw = json.loads((data_dir() / "summaries_actions_decisions.json").read_text(encoding="utf-8"))
    keep = lambda xs: [x for x in xs if x.strip() and not re.fullmatch(r"\W*NA\W*", x.strip())]
    return {
        k: {f: keep(v.get(f, [])) for f in ("actions", "decisions", "problems", "abstract")}
        for k, v in raw.items()
    }


def score(extract, *, part: str = "tuning", verbose: bool = False, report=print) -> dict:
    """Recall and precision of ``extract(meeting)`` on one part of AMI, with time and memory per meeting."""
    notes = load_annotations()
    paths = sorted((data_dir() / "transcripts").glob("*.transcript.tsv"))
    paths = [p for p in paths if part == "all" or part_of(p.name[:7]) == part]
    t = {
        "meetings": 0,
        "actions": 0,
        "found_actions": 0,
        "items": 0,
        "matching_items": 0,
        "action_items_matched": 0,
        "summaries": 0,
        "summary_precision": 0.0,
        "lead_precision": 0.0,
    }
    times, peaks = [], []
    for path in paths:
        meeting = load_meeting(path)
        ann = notes.get(meeting.id, {"actions": [], "decisions": [], "problems": []})
        started = time.perf_counter()
        result = extract(meeting)
        times.append(time.perf_counter() - started)
        tracemalloc.start()  # memory on a second run: tracing slows the first one down
        extract(meeting)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        items = result.items
        hit = [
            any(task_matches(i.task, a) and owner_matches(i.owner, a) for i in items)
            for a in ann["actions"]
        ]
        good = []
        for i in items:
            as_action = any(
                task_matches(i.task, a) and owner_matches(i.owner, a) for a in ann["actions"]
            )
            good.append(
                as_action
                or any(task_matches(i.task, d) for d in ann["decisions"] + ann["problems"])
            )
            t["action_items_matched"] += as_action
        t["meetings"] += 1
        t["actions"] += len(ann["actions"])
        t["found_actions"] += sum(hit)
        t["items"] += len(items)
        t["matching_items"] += sum(good)
        abstract = content(" ".join(ann.get("abstract", [])))
        if abstract and result.summary:
            said = content(result.summary)
            t["summary_precision"] += len(said & abstract) / max(len(said), 1)
            lead = content(" ".join(s.text for s in meeting.segments[:3]))
            t["lead_precision"] += len(lead & abstract) / max(len(lead), 1)
            t["summaries"] += 1
        if verbose:
            report(
                f"--- {meeting.id}: {len(items)} items, {sum(hit)}/{len(ann['actions'])} actions found"
            )
            for i, ok in zip(items, good):
                report(f"  {'ok ' if ok else 'FP '}{i.owner}: {i.task}")
            for a, ok in zip(ann["actions"], hit):
                if not ok:
                    report(f"  FN {a}")
    ratio = lambda a, b: round(a / b, 3) if b else 0.0
    times.sort()
    return {
        "part": part,
        "meetings": t["meetings"],
        "annotated_actions": t["actions"],
        "items": t["items"],
        "items_per_meeting": ratio(t["items"], t["meetings"]),
        "recall": ratio(t["found_actions"], t["actions"]),
        "precision": ratio(t["matching_items"], t["items"]),
        "precision_actions_only": ratio(t["action_items_matched"], t["items"]),
        "summary_words_in_abstract": ratio(t["summary_precision"], t["summaries"]),
        "first_lines_words_in_abstract": ratio(t["lead_precision"], t["summaries"]),
        "ms_per_meeting": round(1000 * sum(times) / max(len(times), 1), 1),
        "ms_max": round(1000 * (times[-1] if times else 0.0), 1),
        "peak_kib_max": round(max(peaks, default=0) / 1024),
    }
