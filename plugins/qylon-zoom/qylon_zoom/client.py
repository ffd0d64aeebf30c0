"""Zoom's REST API over httpx2: bearer token, rate limits, Zoom's error body, paging, and
resumable downloads.

- 429 (Zoom's rate limits) waits as long as ``Retry-After`` says, else backs off
  exponentially, up to ``zoom.max_retries`` times; 502/503/504 likewise.
- 401 refreshes the token once and repeats the request.
- An error answer becomes a ``QylonError`` carrying Zoom's ``{"code", "message"}``.
- Lists page with ``next_page_token`` (an empty string on the last page).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from qylon_cli.backoff import send_retrying
from qylon_cli.errors import QylonError, Unavailable, from_status

from . import auth

RETRIED = (429, 502, 503, 504)


class ZoomClient:
    def __init__(
        self, config: auth.Config | None = None, *, sleep: Callable[[float], None] = time.sleep
    ):
        import httpx2

        self.config = config or auth.Config.load()
        self.sleep = sleep
        self._token: str | None = None
        self.http = httpx2.Client(
            base_url=self.config.api_base,
            headers={"Accept": "application/json"},
            timeout=self.config.timeout_s,
            follow_redirects=True,  # downloads redirect to Zoom's file servers
        )
        self.waits: list[float] = []

    def close(self) -> None:
        self.http.close()

    def token(self, *, force_refresh: bool = False) -> str:
        if self._token is None or force_refresh:
            self._token = auth.access_token(self.config, force_refresh=force_refresh)
        return self._token

    def _send(self, method: str, url: str, *, stream: bool = False, headers=None, **kwargs):
        """The answer to a request, after the refreshes and rate-limit waits it needed."""

        def send():
            sent = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
            request = self.http.build_request(method, url, headers=sent, **kwargs)
            return self.http.send(request, stream=stream)

        answer = send_retrying(
            send,
            unreachable=lambda exc: Unavailable(
                f"Zoom did not answer ({self.config.api_base}): {exc}.",
                hint="Check the network, or zoom.api_base (`qylon config show`).",
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
            body = answer.json()
        except ValueError:
            body = {}
        message = body.get("message") or answer.reason_phrase or "error"
        hint = None
        if answer.status_code == 401:
            hint = "Connect again: qylon integrations connect zoom --oauth"
        elif answer.status_code == 403:
            hint = "The app lacks a scope this needs (see docs/integrations.md)."
        error = from_status(
            answer.status_code,
            f"Zoom answered {answer.status_code}: {message}",
            hint=hint,
            code=f"zoom_{body['code']}" if body.get("code") else None,
            server_error=Unavailable,
        )
        error.status = answer.status_code
        return error

    def pages(self, path: str, key: str, **params) -> Iterator[dict]:
        """Every item under ``key`` of a paged list, following ``next_page_token``."""
        token = None
        while True:
            query = {**params, **({"next_page_token": token} if token else {})}
            page = self.request("GET", path, params=query)
            yield from page.get(key) or []
            token = page.get("next_page_token")
            if not token:
                return

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
