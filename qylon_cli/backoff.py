"""How long an integration's REST client waits before retrying a rate-limited (429) or
overloaded (502-504) request: what the vendor's ``Retry-After`` says, else exponentially
longer. HubSpot's and Salesforce's clients both use it."""

from __future__ import annotations

MAX_WAIT_S = 60.0


def retry_wait(retry_after: str | None, attempt: int) -> float:
    """How long to wait before retry number ``attempt`` (0 first): what ``Retry-After``
    says (in seconds), else 0.5 s, 1 s, 2 s, ...; never more than a minute."""
    wait = None
    if retry_after:
        try:
            wait = max(0.0, float(retry_after))
        except ValueError:
            wait = None
    return min(MAX_WAIT_S, wait if wait is not None else 0.5 * 2**attempt)
