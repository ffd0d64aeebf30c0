"""The ``engagement.evaluate`` action: match the re-engagement rules and start the nudges
(services/engagement.py), as the run's starter. The shipped ``engagement-watch``
workflow runs it after each day's ``sleep``; the ``clock`` signal ends the sleep early,
and its payload's ``now`` (an ISO time) is the time the rules are evaluated for: that is
how tests, and an operator catching up, move the evaluation's clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from . import engine
from .actions import ActionContext, ActionError, action

_client = {}
_lock = threading.Lock()


def _engine_client():
    with _lock:
        db = engine.database()
        if id(db) not in _client:
            _client.clear()
            _client[id(db)] = engine.client(db)
        return _client[id(db)]


def _at(value) -> datetime:
    if value in (None, ""):
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise ActionError("invalid_input", f"at: {value!r} is not an ISO 8601 time") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@action("engagement.evaluate")
def evaluate(ctx: ActionContext, args: dict) -> dict:
    """``with``: optional ``at`` (ISO time; default now) and ``cap_per_week`` (default 2).
    Output: ``at``, ``started`` and ``held`` (each ``{user_id, email, rule, run_id|why}``)."""
    from ..services import engagement
    from . import service

    def start(name: str, inputs: dict, key: str):
        return service.start(
            ctx.session, ctx.principal, _engine_client(),
            name=name, inputs=inputs, idempotency_key=key,
        )  # fmt: skip

    cap = args.get("cap_per_week", engagement.DEFAULT_CAP)
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise ActionError("invalid_input", "cap_per_week must be a whole number, at least 1")
    done = engagement.evaluate(
        ctx.session, ctx.principal, start, at=_at(args.get("at")), cap_per_week=cap
    )
    return {**done, "at": done["at"].isoformat()}
