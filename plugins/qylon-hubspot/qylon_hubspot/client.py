"""HubSpot's REST API over httpx2: bearer token, rate limits, HubSpot's error body, paging.

- 429 (HubSpot's rate limits) waits as long as ``Retry-After`` says, else backs off
  exponentially, up to ``hubspot.max_retries`` times; 502/503/504 likewise.
- 401 with OAuth credentials refreshes the token once and repeats the request.
- An error answer becomes a ``QylonError`` carrying HubSpot's ``message`` and ``category``
  (``{"status": "error", "message", "correlationId", "category"}``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from qylon_cli.backoff import send_retrying
from qylon_cli.errors import QylonError, Unavailable, from_status

from . import auth

RETRIED = (429, 502, 503, 504)


class HubSpotError(QylonError):
    code = "hubspot_error"


class HubSpotClient:
    def __init__(
        self,
        config: auth.Config | None = None,
        *,
        token: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import httpx2

        self.config = config or auth.Config.load()
        self.sleep = sleep
        self._token = token
        self._given = token is not None  # a token being checked: never swapped for the kept one
        self.http = httpx2.Client(
            base_url=self.config.api_base,
            headers={"Accept": "application/json"},
            timeout=self.config.timeout_s,
        )
        self.waits: list[float] = []  # the rate-limit waits taken (reported, tested)

    def close(self) -> None:
        self.http.close()

    def token(self, *, force_refresh: bool = False) -> str:
        if self._token is None or force_refresh:
            self._token = auth.access_token(self.config, force_refresh=force_refresh)
        return self._token

    def request(self, method: str, path: str, **kwargs) -> dict:
        answer = send_retrying(
            lambda: self.http.request(
                method, path, headers={"Authorization": f"Bearer {self.token()}"}, **kwargs
            ),
            unreachable=lambda exc: Unavailable(
                f"HubSpot did not answer ({self.config.api_base}): {exc}.",
                hint="Check the network, or hubspot.api_base (`qylon config show`).",
            ),
            may_refresh=lambda: not self._given and auth.can_refresh(),
            refresh=lambda: self.token(force_refresh=True),
            retryable=lambda answer: answer.status_code in RETRIED,
            max_retries=self.config.max_retries,
            sleep=self.sleep,
            waits=self.waits,
        )
        if answer.status_code >= 400:
            raise self.error(answer)
        return answer.json() if answer.content else {}

    def error(self, answer) -> QylonError:
        try:
            body = answer.json()
        except ValueError:
            body = {}
        message = body.get("message") or answer.reason_phrase or "error"
        category = body.get("category")
        hint = None
        if answer.status_code == 401:
            hint = "Connect again: qylon integrations connect hubspot"
        elif answer.status_code == 403:
            hint = "The token lacks a scope this needs (see docs/integrations.md)."
        error = from_status(
            answer.status_code,
            f"HubSpot answered {answer.status_code}: {message}",
            hint=hint,
            code=f"hubspot_{category.lower()}" if category else None,
            server_error=Unavailable,
        )
        error.status = answer.status_code
        return error

    def pages(
        self, method: str, path: str, *, body: dict | None = None, **params
    ) -> Iterator[dict]:
        """Every result of a paged list (GET, ``?after=``) or search (POST, ``"after"``,
        ``"0"`` for the first page as HubSpot's search documents it)."""
        after = None
        while True:
            if method == "GET":
                query = {**params, **({"after": after} if after else {})}
                page = self.request("GET", path, params=query)
            else:
                page = self.request("POST", path, json={**(body or {}), "after": after or "0"})
            yield from page.get("results", [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
