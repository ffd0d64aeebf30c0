"""How long an integration's REST client waits before retrying a rate-limited (429) or
overloaded (502-504) request: what the vendor's ``Retry-After`` says, else exponentially
longer; and ``send_retrying``, the request loop HubSpot's, Salesforce's and Zoom's clients
share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def send_retrying(
    send: Callable[[], Any],
    *,
    unreachable: Callable[[Exception], Exception],
    may_refresh: Callable[[], bool],
    refresh: Callable[[], None],
    retryable: Callable[[Any], bool],
    max_retries: int,
    sleep: Callable[[float], None],
    waits: list[float],
    discard: Callable[[Any], None] | None = None,
):
    """The REST clients' request loop: ``send()`` once; on the first 401, when
    ``may_refresh()``, ``refresh()`` and send again; on a ``retryable`` answer, up to
    ``max_retries`` times, wait (``retry_wait``, noted in ``waits``) and send again.
    ``httpx2.TransportError`` becomes ``unreachable(exc)``; an answer not used is handed to
    ``discard`` (a streamed one is closed). Answers the last response, errors included."""
    import httpx2

    refreshed = False
    attempt = 0
    while True:
        try:
            answer = send()
        except httpx2.TransportError as exc:
            raise unreachable(exc) from None
        wait = None
        if answer.status_code == 401 and not refreshed and may_refresh():
            refresh()
            refreshed = True
            wait = 0.0
        elif retryable(answer) and attempt < max_retries:
            wait = retry_wait(answer.headers.get("Retry-After"), attempt)
            waits.append(wait)
            attempt += 1
        if wait is None:
            return answer
        if discard is not None:
            discard(answer)
        if wait:
            sleep(wait)
