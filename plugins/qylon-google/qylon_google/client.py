"""Google's REST APIs (Meet, Calendar, Drive) over httpx2: bearer token, rate limits,
Google's error body, paging, and resumable downloads.

- 429 (and 502-504) wait as long as ``Retry-After`` says, else back off exponentially, up
  to ``google.max_retries`` times.
- 401 refreshes the token once and repeats the request.
- An error answer becomes a ``QylonError`` carrying Google's
  ``{"error": {"code", "message", "status"}}``.
- Lists page with ``pageToken`` / ``nextPageToken``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from qylon_cli.backoff import send_retrying
from qylon_cli.errors import QylonError, Unavailable, from_status

from . import auth

RETRIED = (429, 502, 503, 504)


class GoogleClient:
    def __init__(
        self, config: auth.Config | None = None, *, sleep: Callable[[float], None] = time.sleep
    ):
        import httpx2

        self.config = config or auth.Config.load()
        self.sleep = sleep
        self._token: str | None = None
        self.http = httpx2.Client(
            headers={"Accept": "application/json"},
            timeout=self.config.timeout_s,
            follow_redirects=True,
        )
        self.waits: list[float] = []

    def close(self) -> None:
        self.http.close()

    def token(self, *, force_refresh: bool = False) -> str:
        if self._token is None or force_refresh:
            self._token = auth.access_token(self.config, force_refresh=force_refresh)
        return self._token

    def _send(self, method: str, url: str, *, stream: bool = False, headers=None, **kwargs):
        def send():
            sent = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
            request = self.http.build_request(method, url, headers=sent, **kwargs)
            return self.http.send(request, stream=stream)

        answer = send_retrying(
            send,
            unreachable=lambda exc: Unavailable(
                f"Google did not answer ({url.split('?')[0]}): {exc}.",
                hint="Check the network, or the google.* addresses (`qylon config show`).",
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

    def get(self, url: str, **params) -> dict:
        answer = self._send("GET", url, params=params)
        return answer.json() if answer.content else {}

    def error(self, answer) -> QylonError:
        try:
            body = answer.json().get("error") or {}
        except (ValueError, AttributeError):
            body = {}
        if not isinstance(body, dict):
            body = {"message": str(body)}
        message = body.get("message") or answer.reason_phrase or "error"
        hint = None
        if answer.status_code == 401:
            hint = "Connect again: qylon integrations connect google --oauth"
        elif answer.status_code == 403:
            hint = "The app lacks a scope this needs (see docs/integrations.md)."
        error = from_status(
            answer.status_code,
            f"Google answered {answer.status_code}: {message}",
            hint=hint,
            code=f"google_{body['status'].lower()}" if body.get("status") else None,
            server_error=Unavailable,
        )
        error.status = answer.status_code
        return error

    def pages(self, url: str, key: str, **params) -> Iterator[dict]:
        """Every item under ``key`` of a paged list, following ``nextPageToken``."""
        token = None
        while True:
            page = self.get(url, **params, **({"pageToken": token} if token else {}))
            yield from page.get(key) or []
            token = page.get("nextPageToken")
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
