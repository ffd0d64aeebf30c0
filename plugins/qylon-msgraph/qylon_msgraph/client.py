"""Microsoft Graph over httpx2: bearer token, throttling, Graph's error body, paging, and
resumable downloads.

- 429 (Graph's throttling) waits as long as ``Retry-After`` says, else backs off
  exponentially, up to ``msgraph.max_retries`` times; 502/503/504 likewise.
- 401 refreshes the token once and repeats the request.
- An error answer becomes a ``QylonError`` carrying Graph's
  ``{"error": {"code", "message"}}``.
- Lists page with ``@odata.nextLink`` (the next page's whole address).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from qylon_cli.backoff import send_retrying
from qylon_cli.errors import QylonError, Unavailable, from_status

from . import auth

RETRIED = (429, 502, 503, 504)


class GraphClient:
    def __init__(
        self, config: auth.Config | None = None, *, sleep: Callable[[float], None] = time.sleep
    ):
        import httpx2

        self.config = config or auth.Config.load()
        self.sleep = sleep
        self._token: str | None = None
        self.http = httpx2.Client(
            base_url=self.config.api_base + "/",
            headers={"Accept": "application/json"},
            timeout=self.config.timeout_s,
            follow_redirects=True,  # content downloads may redirect to the file store
        )
        self.waits: list[float] = []

    def close(self) -> None:
        self.http.close()

    def token(self, *, force_refresh: bool = False) -> str:
        if self._token is None or force_refresh:
            self._token = auth.access_token(self.config, force_refresh=force_refresh)
        return self._token

    def _send(self, method: str, url: str, *, stream: bool = False, headers=None, **kwargs):
        """The answer to a request, after the refreshes and throttling waits it needed."""

        def send():
            sent = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
            request = self.http.build_request(method, url.lstrip("/"), headers=sent, **kwargs)
            return self.http.send(request, stream=stream)

        answer = send_retrying(
            send,
            unreachable=lambda exc: Unavailable(
                f"Microsoft Graph did not answer ({self.config.api_base}): {exc}.",
                hint="Check the network, or msgraph.api_base (`qylon config show`).",
            ),
            may_refresh=lambda: True,
            refresh=lambda: self.token(force_refresh=True),
            retryable=lambda answer: answer.status_code in RETRIED,
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

    def error(self, answer) -> QylonError:
        try:
            body = answer.json().get("error") or {}
        except (ValueError, AttributeError):
            body = {}
        message = body.get("message") or answer.reason_phrase or "error"
        hint = None
        if answer.status_code == 401:
            hint = "Connect again: qylon integrations connect msgraph"
        elif answer.status_code == 403:
            hint = "The app lacks a permission this needs (see docs/integrations.md)."
        error = from_status(
            answer.status_code,
            f"Microsoft Graph answered {answer.status_code}: {message}",
            hint=hint,
            code=f"msgraph_{body['code']}" if body.get("code") else None,
            server_error=Unavailable,
        )
        error.status = answer.status_code
        return error

    def pages(self, path: str, *, headers=None, **params) -> Iterator[dict]:
        """Every item of a paged collection (``value``), following ``@odata.nextLink``."""
        page = self.request("GET", path, params=params, headers=headers)
        while True:
            yield from page.get("value") or []
            following = page.get("@odata.nextLink")
            if not following:
                return
            page = self.request("GET", following, headers=headers)

    def download(
        self,
        url: str,
        dest: Path,
        size: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Path:
        """``url`` into ``dest``, continued after an interruption (qylon_cli.downloads)."""
        from qylon_cli import downloads

        return downloads.resume(
            lambda headers: self._send("GET", url, stream=True, headers=headers),
            dest,
            size=size,
            on_progress=on_progress,
            again="Run the same import again: it goes on from where it stopped.",
        )
