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


class BearerClient:
    """A vendor's REST API over httpx2 with a bearer token (the video and calendar
    plugins' clients): ``send_retrying``'s refresh on a 401 and waits on 429 and 502-504, an
    error answer turned into the vendor's ``error(answer)``, and resumable downloads.

    A subclass names the ``vendor`` and the ``address`` setting (for the unreachable
    message) and the command that signs in again (``reconnect``), and gives
    ``access_token(force_refresh)`` and ``error_body(answer)`` (the vendor's error object)
    with ``error_code(body)``."""

    vendor = ""
    address = ""  # the setting that says where the API is, e.g. "zoom.api_base"
    reconnect = ""  # the command that signs in again, for a 401's hint
    lacks = "scope"  # what a 403 says the app lacks
    retried = (429, 502, 503, 504)

    def __init__(self, config, *, sleep: Callable[[float], None], base_url: str | None = None):
        import httpx2

        self.config = config
        self.sleep = sleep
        self._token: str | None = None
        self.http = httpx2.Client(
            headers={"Accept": "application/json"},
            timeout=config.timeout_s,
            follow_redirects=True,  # downloads redirect to the vendor's file servers
            **({"base_url": base_url} if base_url is not None else {}),
        )
        self.waits: list[float] = []  # the rate-limit waits taken (reported, tested)

    def close(self) -> None:
        self.http.close()

    def access_token(self, *, force_refresh: bool) -> str:
        raise NotImplementedError

    def error_body(self, answer) -> dict:
        """The vendor's error object of an error answer (with its ``message``), or {}."""
        raise NotImplementedError

    def error_code(self, body: dict) -> str | None:
        """Qylon's error code for the vendor's error object (``zoom_124``), if it names one."""
        return None

    def error(self, answer) -> Exception:
        from .errors import Unavailable, from_status

        body = self.error_body(answer)
        message = body.get("message") or answer.reason_phrase or "error"
        hint = {
            401: f"Connect again: {self.reconnect}",
            403: f"The app lacks a {self.lacks} this needs (see docs/integrations.md).",
        }.get(answer.status_code)
        error = from_status(
            answer.status_code,
            f"{self.vendor} answered {answer.status_code}: {message}",
            hint=hint,
            code=self.error_code(body),
            server_error=Unavailable,
        )
        error.status = answer.status_code
        return error

    def where(self, url: str) -> str:
        """Where the unreachable request went, for its message."""
        return self.config.api_base

    def token(self, *, force_refresh: bool = False) -> str:
        if self._token is None or force_refresh:
            self._token = self.access_token(force_refresh=force_refresh)
        return self._token

    def _send(self, method: str, url: str, *, stream: bool = False, headers=None, **kwargs):
        """The answer to a request, after the refreshes and rate-limit waits it needed."""
        from .errors import Unavailable

        def send():
            sent = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
            request = self.http.build_request(method, url, headers=sent, **kwargs)
            return self.http.send(request, stream=stream)

        answer = send_retrying(
            send,
            unreachable=lambda exc: Unavailable(
                f"{self.vendor} did not answer ({self.where(url)}): {exc}.",
                hint=f"Check the network, or {self.address} (`qylon config show`).",
            ),
            may_refresh=lambda: True,
            refresh=lambda: self.token(force_refresh=True),
            retryable=lambda answer: answer.status_code in self.retried,
            max_retries=self.config.max_retries,
            sleep=self.sleep,
            waits=self.waits,
            discard=(lambda answer: answer.close()) if stream else None,
        )
        if answer.status_code >= 400:
            if stream:
                answer.read()
            raise self.error(answer)
        return answer

    def request(self, method: str, path: str, **kwargs) -> dict:
        answer = self._send(method, path, **kwargs)
        return answer.json() if answer.content else {}

    def download(
        self,
        url: str,
        dest,
        size: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ):
        """``url`` into ``dest``, continued after an interruption (qylon_cli.downloads)."""
        from . import downloads

        return downloads.resume(
            lambda headers: self._send("GET", url, stream=True, headers=headers),
            dest,
            size=size,
            on_progress=on_progress,
            again="Run the same import again: it goes on from where it stopped.",
        )
