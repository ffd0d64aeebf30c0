"""Meeting insights: action items, decisions and a short summary.

Two extractors behind one call: ``offline`` (rules, always available; on long spoken
meetings a packaged sentence classifier chooses the items, see ``classifier``) and ``llm``
(any OpenAI-compatible endpoint). ``analyze`` picks one; when the model fails it
warns and falls back to the offline extractor, unless ``llm`` was asked for
explicitly without ``fallback="offline"``: then the error is raised. ``apply`` turns the result into the meeting's stored form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from qylon_cli.errors import QylonError, UsageError
from qylon_cli.schemas import ActionItem, Meeting

from .result import Found, Insights, item_id

EXTRACTORS = ("offline", "llm")
FALLBACKS = (None, "offline", "none")

__all__ = [
    "EXTRACTORS",
    "FALLBACKS",
    "Found",
    "Insights",
    "InsightsFailed",
    "analyze",
    "apply",
    "choose",
]


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
    fallback: str | None = None,
    settings=None,
    ref: date | None = None,
    warn: Callable[[str], None] | None = None,
) -> Insights:
    """Extract action items, decisions and a summary; due dates relative to ``ref`` (default: the meeting's date).

    When the model cannot run, the default (``auto``) and ``fallback="offline"`` warn and use the offline
    extractor; an explicit ``extractor="llm"`` without a fallback raises the model's error (exit 6 unreachable,
    3 misconfigured, 4 key refused), so a script can tell the two apart.
    """
    from ..store.meeting_date import meeting_day
    from . import llm, offline

    if fallback not in FALLBACKS:
        raise UsageError(f"Unknown fallback {fallback!r}.", hint="Choose offline or none.")
    ref = ref or meeting_day(meeting.created_at)
    chosen = choose(extractor, settings)
    may_fall_back = fallback == "offline" or (fallback is None and extractor in (None, "", "auto"))
    if chosen == "llm":
        try:
            return llm.extract(meeting, ref, llm.require(settings))
        except llm.LLMFailed as exc:
            if not may_fall_back:
                raise
            reason = exc.message.rstrip(".")
        message = f"LLM extractor unavailable: {reason}. Used the offline extractor instead."
        if warn:
            warn(message)
        result = offline.extract(meeting, ref)
        result.warnings.append(message)
        return result
    return offline.extract(meeting, ref)


class InsightsFailed(Exception):
    """The transcript is done but the model asked for could not run: store ``meeting``, then report ``error``."""

    def __init__(self, meeting: Meeting, error: QylonError):
        super().__init__(error.message)
        self.meeting, self.error = meeting, error

    def reported(self) -> QylonError:
        """The model's error, its hint saying where the transcript went."""
        self.error.hint = (
            f"The transcript is stored as meeting {self.meeting.id[:8]}, without insights; "
            f"`qylon meeting analyze {self.meeting.id[:8]} --extractor llm` finds them when the model answers."
        )
        return self.error


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
                status=status.get(iid)
                or status.get(((found.owner or "").lower(), found.task.lower()))
                or "open",
                quote=found.quote,
                start=found.start,
            )
        )
    return meeting.model_copy(
        update={"action_items": items, "decisions": result.decisions, "summary": result.summary}
    )
