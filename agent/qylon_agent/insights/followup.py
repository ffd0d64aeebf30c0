"""Follow-up email drafts after a meeting: summary, decisions, action items with owners and due dates.

``offline`` fills a template over the meeting's stored insights; ``llm`` asks the model to write
the draft from the transcript and the extracted items, then ``check`` holds the draft to those
items: every item's task must appear (its content words, fuzzily), and no action-like line may
appear that is no item or decision. Nothing here sends anything.

Two audiences: ``client`` is polite and leaves out internal wording (speaker labels such as
SPEAKER_1 become "we", no item ids, no quotes); ``team`` is terse, with ids and open boxes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from qylon_cli.errors import UsageError
from qylon_cli.schemas import ActionItem, Meeting

from . import speech
from .llm import LLMFailed

AUDIENCES = ("client", "team")
LABEL = re.compile(r"\bSPEAKER_\d+\b")
BULLET = re.compile(r"^\s*(?:[-*•+]|\d+[.)]|\[[ xX]\])\s+")
ACTION_WORDS = re.compile(
    r"\b(?:will|shall|to do|action item|next step|due|by (?:mon|tue|wed|thu|fri|sat|sun)\w*)\b",
    re.IGNORECASE,
)
MATCH = 0.6  # share of an item's content words a line must hold to count as that item

SYSTEM = """You write the follow-up email after a meeting, in Markdown, for the audience given.
- The first line is "Subject: ..." then a blank line, then the email.
- A two or three sentence summary, then the decisions, then the action items: one bullet per item given,
  with its owner and due date. Use exactly the action items given: do not add, merge or drop any, and
  do not state other commitments or next steps.
- client: polite, no internal wording, no speaker labels (SPEAKER_1): use names or "we".
- team: terse."""


class FollowUpUnfaithful(LLMFailed):
    """The model's draft dropped an extracted item or stated one that was not extracted: exit 1."""

    code = "followup_unfaithful"


@dataclass
class Draft:
    subject: str
    markdown: str
    text: str
    to: str
    writer: str
    items: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _names(meeting: Meeting) -> dict[str, str]:
    return {sp.id: sp.name for sp in meeting.speakers if sp.name}


def _clean(text: str | None, meeting: Meeting, to: str) -> str:
    """Speaker labels as names; for a client, labels without a name become "we"."""
    names = _names(meeting)
    text = LABEL.sub(lambda m: names.get(m[0], "we" if to == "client" else m[0]), text or "")
    text = re.sub(r"(?i:\baction items?):\s*", "", text.strip())
    return (text[:1].upper() + text[1:]) if text else text


def _owner(item: ActionItem, meeting: Meeting, to: str) -> str | None:
    if not item.owner:
        return None
    return LABEL.sub(
        lambda m: _names(meeting).get(m[0], "we" if to == "client" else m[0]), item.owner
    )


def _due(item: ActionItem, to: str) -> str | None:
    if item.due is None:
        return None
    return f"{item.due:%A} {item.due.day} {item.due:%B}" if to == "client" else item.due.isoformat()


def item_line(item: ActionItem, meeting: Meeting, to: str) -> str:
    owner, due, task = _owner(item, meeting, to), _due(item, to), _clean(item.task, meeting, to)
    if to == "team":
        box = "x" if item.status == "done" else " "
        return (
            f"[{box}] {owner or '—'}: {task}"
            + (f" (due {due})" if due else "")
            + f" [{item.id[:8]}]"
        )
    line = task.rstrip(".") + (f" ({owner}" + (f", by {due})" if due else ")") if owner else "")
    return line if owner or not due else f"{line} (by {due})"


def subject_for(meeting: Meeting, to: str) -> str:
    day = f"{meeting.created_at:%d %B %Y}".lstrip("0")
    return f"Follow-up: {meeting.title} ({day})" if to == "client" else f"{meeting.title}: actions"


def offline(meeting: Meeting, to: str) -> Draft:
    """The template draft over the meeting's stored summary, decisions and action items."""
    if to not in AUDIENCES:
        raise UsageError(f"Unknown audience {to!r}.", hint="Choose client or team.")
    summary = _clean(meeting.summary, meeting, to)
    decisions = [_clean(d, meeting, to) for d in meeting.decisions]
    items = [item_line(i, meeting, to) for i in meeting.action_items]
    subject = subject_for(meeting, to)
    md, txt = [], []
    if to == "client":
        intro = "Thank you for your time today. Here is a short summary of our meeting and the next steps we agreed on."
        md += ["Hello,", "", intro, ""]
        sections = [
            ("Summary", [summary] if summary else []),
            ("Decisions", decisions),
            ("Action items", items),
        ]
        outro = ["Please let us know if we missed or misunderstood anything.", "", "Best regards,"]
    else:
        sections = [
            ("Summary", [summary] if summary else []),
            ("Decided", decisions),
            ("Actions", items),
        ]
        outro = []
    txt += md
    for title, lines in sections:
        if not lines:
            continue
        md += [f"**{title}**", ""]
        txt += [f"{title}:" if to == "team" else title.upper(), ""]
        if title == "Summary":
            md += [lines[0], ""]
            txt += [lines[0], ""]
        else:
            md += [f"- {line}" for line in lines] + [""]
            txt += [f"  * {line}" for line in lines] + [""]
    if not meeting.action_items:
        none = "No action items were recorded." if to == "client" else "No actions."
        md += [none, ""]
        txt += [none, ""]
    md += outro
    txt += outro
    return Draft(
        subject=subject,
        markdown="\n".join(md).strip() + "\n",
        text="\n".join(txt).strip() + "\n",
        to=to,
        writer="offline",
        items=[_item_dict(i, meeting, to) for i in meeting.action_items],
    )


def _item_dict(item: ActionItem, meeting: Meeting, to: str) -> dict:
    return {
        "id": item.id,
        "owner": _owner(item, meeting, to),
        "task": _clean(item.task, meeting, to),
        "due": item.due.isoformat() if item.due else None,
        "status": item.status,
    }


def _words(text: str) -> set[str]:
    return {w.rstrip("s") if len(w) > 4 else w for w in speech.content(text)}


def _matches(line: str, text: str) -> bool:
    want = _words(text)
    return bool(want) and len(want & _words(line)) >= MATCH * len(want)


def check(draft: str, meeting: Meeting) -> tuple[list[str], list[str]]:
    """(the items' tasks the draft leaves out, the draft's action-like lines that are no item or decision)."""
    lines = [ln.strip() for ln in draft.splitlines() if ln.strip()]
    missing = [
        i.task for i in meeting.action_items if not any(_matches(ln, i.task) for ln in lines)
    ]
    known = [i.task for i in meeting.action_items] + list(meeting.decisions)
    invented = []
    for line in lines:
        if line.lower().startswith("subject:") or not (
            BULLET.match(line) or ACTION_WORDS.search(line)
        ):
            continue
        body = BULLET.sub("", line).strip("*_ ")
        if not _words(body) or body.endswith(":"):
            continue
        if not any(_matches(body, k) or _matches(k, body) for k in known):
            invented.append(body)
    return missing, invented


def with_model(meeting: Meeting, to: str, cfg) -> Draft:
    """The model's draft, checked against the extracted items; ``FollowUpUnfaithful`` when it fails the check."""
    from . import llm

    items = "\n".join(f"- {item_line(i, meeting, to)}" for i in meeting.action_items) or "(none)"
    decisions = "\n".join(f"- {_clean(d, meeting, to)}" for d in meeting.decisions) or "(none)"
    lines = llm.transcript_lines(meeting)
    user = (
        f"Audience: {to}. Meeting: {meeting.title}, {meeting.created_at:%A %Y-%m-%d}.\n\n"
        f"Action items (use exactly these):\n{items}\n\nDecisions:\n{decisions}\n\n"
        "Transcript:\n" + "\n".join(lines)
    )
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    reply = llm.create(llm.client_for(cfg), cfg, messages, lines=len(lines))
    content = (reply.choices[0].message.content if reply.choices else None) or ""
    content = re.sub(
        r"^\s*```(?:markdown|md)?\s*\n(.*?)\n```\s*$", r"\1", content, flags=re.DOTALL
    ).strip()
    if not content:
        raise LLMFailed("The model's follow-up draft was empty.")
    missing, invented = check(content, meeting)
    if missing or invented:
        parts = []
        if missing:
            parts.append("it leaves out " + "; ".join(f"“{t}”" for t in missing))
        if invented:
            parts.append(
                "it states items that were not extracted: " + "; ".join(f"“{t}”" for t in invented)
            )
        raise FollowUpUnfaithful(
            "The model's follow-up draft does not match the meeting's action items: "
            + ", and ".join(parts)
            + ".",
            hint="`--extractor offline` writes the draft from the items alone; "
            "`qylon meeting actions add|edit` corrects the items.",
        )
    subject = subject_for(meeting, to)
    first, _, rest = content.partition("\n")
    if first.lower().startswith("subject:"):
        subject, content = first.split(":", 1)[1].strip(), rest.strip()
    return Draft(
        subject=subject,
        markdown=content + "\n",
        text=plain(content) + "\n",
        to=to,
        writer="llm",
        items=[_item_dict(i, meeting, to) for i in meeting.action_items],
    )


def plain(markdown: str) -> str:
    """Markdown as plain text: no emphasis marks or heading hashes; bullets as "  * "."""
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", markdown)
    text = re.sub(r"^#+\s*", "", text, flags=re.MULTILINE)
    return re.sub(r"^\s*[-*+]\s+", "  * ", text, flags=re.MULTILINE)


def write(
    meeting: Meeting,
    *,
    to: str = "client",
    writer: str | None = None,
    fallback: str | None = None,
    settings=None,
    warn: Callable[[str], None] | None = None,
) -> Draft:
    """The draft, written as ``insights.analyze`` chooses an extractor: the model when asked for or configured;
    when it cannot run or its draft fails the check, the offline draft with a warning, unless ``llm`` was
    asked for explicitly without ``fallback="offline"`` (then the error is raised)."""
    from . import choose, llm

    chosen = choose(writer, settings)
    if chosen == "offline":
        return offline(meeting, to)
    try:
        return with_model(meeting, to, llm.require(settings))
    except LLMFailed as exc:
        if not (fallback == "offline" or (fallback is None and writer in (None, "", "auto"))):
            raise
        message = (
            f"LLM follow-up unavailable: {exc.message.rstrip('.')}. Used the offline draft instead."
        )
    if warn:
        warn(message)
    draft = offline(meeting, to)
    draft.warnings.append(message)
    return draft
