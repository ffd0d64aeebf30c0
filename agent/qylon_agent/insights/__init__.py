"""Meeting insights: action items, decisions and a short summary.

Two extractors behind one call: ``offline`` (rules, always available) and ``llm``
(any OpenAI-compatible endpoint). ``analyze`` picks one, and when the model fails
it warns and falls back to the offline extractor, so a transcript is never lost
for want of insights. ``apply`` turns the result into the meeting's stored form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from qylon_cli.errors import UsageError
from qylon_cli.schemas import ActionItem, Meeting

from .result import Found, Insights, item_id

EXTRACTORS = ("offline", "llm")

__all__ = ["EXTRACTORS", "Found", "Insights", "analyze", "apply", "choose"]


def choose(extractor: str | None, settings=None) -> str:
    """The extractor to use: the one asked for, else ``llm`` when a model is configured, else ``offline``."""
    from . import llm

    if extractor in (None, "", "auto"):
        return "llm" if llm.config(settings) else "offline"
    if extractor not in EXTRACTORS:
        raise UsageError(f"Unknown extractor {extractor!r}.", hint="Choose offline or llm.")
    return extractor


def analyze(
    meeting: Meeting,
    *,
    extractor: str | None = None,
    settings=None,
    ref: date | None = None,
    warn: Callable[[str], None] | None = None,
) -> Insights:
    """Extract action items, decisions and a summary; due dates relative to ``ref`` (default: the meeting's date)."""
    from ..meeting_date import meeting_day
    from . import llm, offline

    ref = ref or meeting_day(meeting.created_at)
    chosen = choose(extractor, settings)
    if chosen == "llm":
        cfg = llm.config(settings)
        if cfg is None:
            reason = "no model is configured (set llm.model and llm.base_url, or OPENAI_BASE_URL and OPENAI_API_KEY)"
        else:
            try:
                return llm.extract(meeting, ref, cfg)
            except llm.LLMFailed as exc:
                reason = exc.message
        message = f"LLM extractor unavailable: {reason}. Used the offline extractor instead."
        if warn:
            warn(message)
        result = offline.extract(meeting, ref)
        result.warnings.append(message)
        return result
    return offline.extract(meeting, ref)


def apply(meeting: Meeting, result: Insights, *, previous: Iterable[ActionItem] = ()) -> Meeting:
    """The meeting with ``result`` as its insights; items found again keep their status."""
    status = {}
    for old in previous:
        status[old.id] = old.status
        status[((old.owner or "").lower(), old.task.lower())] = old.status
    items = []
    seen: set[str] = set()
    for found in sorted(result.items, key=lambda f: (f.start is None, f.start or 0.0)):
        iid = item_id(meeting.id, found)
        if iid in seen:
            continue
        seen.add(iid)
        items.append(
            ActionItem(
                id=iid,
                owner=found.owner,
                task=found.task,
                due=found.due,
                status=status.get(iid) or status.get(((found.owner or "").lower(), found.task.lower())) or "open",
                quote=found.quote,
                start=found.start,
            )
        )
    return meeting.model_copy(update={"action_items": items, "decisions": result.decisions, "summary": result.summary})
