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

from qylon_cli.backoff import BearerClient

from . import auth


class GraphClient(BearerClient):
    vendor = "Microsoft Graph"
    address = "msgraph.api_base"
    reconnect = "qylon integrations connect msgraph"
    lacks = "permission"

    def __init__(
        self, config: auth.Config | None = None, *, sleep: Callable[[float], None] = time.sleep
    ):
        config = config or auth.Config.load()
        super().__init__(config, sleep=sleep, base_url=config.api_base)

    def access_token(self, *, force_refresh: bool) -> str:
        return auth.access_token(self.config, force_refresh=force_refresh)

    def error_body(self, answer) -> dict:
        try:
            return answer.json().get("error") or {}
        except (ValueError, AttributeError):
            return {}

    def error_code(self, body: dict) -> str | None:
        return f"msgraph_{body['code']}" if body.get("code") else None

    def pages(self, path: str, *, headers=None, **params) -> Iterator[dict]:
        """Every item of a paged collection (``value``), following ``@odata.nextLink``."""
        page = self.request("GET", path, params=params, headers=headers)
        while True:
            yield from page.get("value") or []
            following = page.get("@odata.nextLink")
            if not following:
                return
            page = self.request("GET", following, headers=headers)
