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

from qylon_cli.backoff import BearerClient

from . import auth


class ZoomClient(BearerClient):
    vendor = "Zoom"
    address = "zoom.api_base"
    reconnect = "qylon integrations connect zoom --oauth"

    def __init__(
        self, config: auth.Config | None = None, *, sleep: Callable[[float], None] = time.sleep
    ):
        config = config or auth.Config.load()
        super().__init__(config, sleep=sleep, base_url=config.api_base)

    def access_token(self, *, force_refresh: bool) -> str:
        return auth.access_token(self.config, force_refresh=force_refresh)

    def error_body(self, answer) -> dict:
        try:
            return answer.json()
        except ValueError:
            return {}

    def error_code(self, body: dict) -> str | None:
        return f"zoom_{body['code']}" if body.get("code") else None

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
