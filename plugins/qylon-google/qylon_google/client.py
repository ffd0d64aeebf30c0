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

from qylon_cli.backoff import BearerClient

from . import auth


class GoogleClient(BearerClient):
    vendor = "Google"
    address = "the google.* addresses"
    reconnect = "qylon integrations connect google --oauth"

    def __init__(
        self, config: auth.Config | None = None, *, sleep: Callable[[float], None] = time.sleep
    ):
        config = config or auth.Config.load()
        super().__init__(config, sleep=sleep)

    def access_token(self, *, force_refresh: bool) -> str:
        return auth.access_token(self.config, force_refresh=force_refresh)

    def where(self, url: str) -> str:
        return url.split("?")[0]

    def get(self, url: str, **params) -> dict:
        return self.request("GET", url, params=params)

    def error_body(self, answer) -> dict:
        try:
            body = answer.json().get("error") or {}
        except (ValueError, AttributeError):
            return {}
        return body if isinstance(body, dict) else {"message": str(body)}

    def error_code(self, body: dict) -> str | None:
        return f"google_{body['status'].lower()}" if body.get("status") else None

    def pages(self, url: str, key: str, **params) -> Iterator[dict]:
        """Every item under ``key`` of a paged list, following ``nextPageToken``."""
        token = None
        while True:
            page = self.get(url, **params, **({"pageToken": token} if token else {}))
            yield from page.get(key) or []
            token = page.get("nextPageToken")
            if not token:
                return
