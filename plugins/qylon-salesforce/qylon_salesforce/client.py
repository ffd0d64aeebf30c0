"""Salesforce's REST API over httpx2: the instance's address and bearer token, SOQL queries
with ``nextRecordsUrl`` paging, sObject rows, Salesforce's error body and its limits.

- Errors are a list, ``[{"message", "errorCode", "fields"}]``; they become ``QylonError``s
  with the code ``salesforce_<errorcode>``.
- 401 (``INVALID_SESSION_ID``: the access token expired) refreshes the token once.
- 429 and 502-504, and 403 ``REQUEST_LIMIT_EXCEEDED`` for the concurrent-request limits,
  are waited out (``Retry-After``, else 0.5 s, 1 s, 2 s, ...), up to
  ``salesforce.max_retries`` times. The org's daily limit (``TotalRequests Limit
  exceeded``) is not worth waiting for: it fails at once, saying so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from qylon_cli.backoff import send_retrying
from qylon_cli.errors import QylonError, Unavailable, from_status

from . import auth

RETRIED = (429, 502, 503, 504)
LIMIT = "REQUEST_LIMIT_EXCEEDED"


def quote(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped, as SOQL's reference says)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _errors(answer) -> list[dict]:
    try:
        body = answer.json()
    except ValueError:
        return []
    if isinstance(body, dict):
        body = [body]
    return [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []


class SalesforceClient:
    def __init__(
        self,
        config: auth.Config | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import httpx2

        self.config = config or auth.Config.load()
        self.sleep = sleep
        creds = auth.current()
        self._token = creds["access_token"]
        self.http = httpx2.Client(
            base_url=creds["instance_url"],
            headers={"Accept": "application/json"},
            timeout=self.config.timeout_s,
        )
        self.waits: list[float] = []  # the limit waits taken (reported, tested)

    @property
    def data(self) -> str:
        return f"/services/data/v{self.config.api_version}"

    def close(self) -> None:
        self.http.close()

    def _retryable(self, answer) -> bool:
        if answer.status_code in RETRIED:
            return True
        if answer.status_code == 403:
            errors = _errors(answer)
            return any(
                e.get("errorCode") == LIMIT and "TotalRequests" not in (e.get("message") or "")
                for e in errors
            )
        return False

    def request(self, method: str, path: str, **kwargs) -> dict:
        def refresh() -> None:
            self._token = auth.refresh(self.config)["access_token"]

        answer = send_retrying(
            lambda: self.http.request(
                method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs
            ),
            unreachable=lambda exc: Unavailable(
                f"Salesforce did not answer ({self.http.base_url}): {exc}.",
                hint="Check the network, or connect again (the instance may have moved).",
            ),
            may_refresh=auth.can_refresh,
            refresh=refresh,
            retryable=self._retryable,
            max_retries=self.config.max_retries,
            sleep=self.sleep,
            waits=self.waits,
        )
        if answer.status_code >= 400:
            raise self.error(answer)
        return answer.json() if answer.content else {}

    def error(self, answer) -> QylonError:
        errors = _errors(answer)
        first = errors[0] if errors else {}
        message = "; ".join(e.get("message") or "" for e in errors) or answer.reason_phrase
        code = first.get("errorCode")
        hint = None
        if answer.status_code == 401:
            hint = "Connect again: qylon integrations connect salesforce --oauth (or --device)"
        elif code == LIMIT:
            hint = "The org's API limit is used up; try again later (Setup → System Overview)."
        error = from_status(
            answer.status_code,
            f"Salesforce answered {answer.status_code}: {message}",
            hint=hint,
            code=f"salesforce_{code.lower()}" if code else None,
            server_error=Unavailable,
        )
        if code == LIMIT:
            error = Unavailable(error.message, hint=hint, code="salesforce_request_limit_exceeded")
        error.status = answer.status_code
        return error

    def query(self, soql: str) -> Iterator[dict]:
        """Every record a SOQL query finds, following ``nextRecordsUrl`` page by page."""
        page = self.request("GET", f"{self.data}/query", params={"q": soql})
        while True:
            yield from page.get("records", [])
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self.request("GET", page["nextRecordsUrl"])

    def create(self, sobject: str, fields: dict) -> str:
        made = self.request("POST", f"{self.data}/sobjects/{sobject}/", json=fields)
        return made["id"]

    def update(self, sobject: str, record_id: str, fields: dict) -> None:
        self.request("PATCH", f"{self.data}/sobjects/{sobject}/{record_id}", json=fields)
