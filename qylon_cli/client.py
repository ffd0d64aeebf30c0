"""The team server's API client (httpx2): base URL, bearer key, typed errors, retries.

Network errors and 5xx answers are retried with exponential backoff (and jitter);
429 waits for ``Retry-After``, and so does a 409 that says the request lost a race and
changed nothing (``try_again``, ``version_conflict``), whatever its method. Other
non-idempotent requests (POST) are retried only when the request never reached the
server. A server that has not answered yet and cannot be
connected to (refused, no such host, no answer within ``CONNECT_TIMEOUT``) fails fast
after one quick retry: a command against a server that is down ends in seconds, while
one that already talked to it rides out a restart with the full retries. Failures become ``qylon_cli.errors`` classes:
401/403 → exit 4, 404 → exit 5, unreachable/5xx → exit 6, 4xx input errors → exit 3.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any, Self

from .errors import EXIT_USAGE, QylonError, Unavailable, from_status

IDEMPOTENT = {"GET", "PUT", "DELETE", "HEAD", "OPTIONS"}
CONNECT_TIMEOUT = 5.0  # seconds to open a connection (the rest of a request gets ``timeout``)
RETRY_STATUS = {500, 502, 503, 504}


class ApiClient:
    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        insecure: bool | None = None,
        retries: int = 4,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import httpx2

        from . import __version__

        self.server = server.rstrip("/")
        if token:
            check_transport(self.server, insecure)
        self.retries, self.backoff, self.max_wait, self.sleep = retries, backoff, max_wait, sleep
        headers = {"User-Agent": f"qylon/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx2.Client(
            base_url=self.server,
            headers=headers,
            timeout=httpx2.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        )
        self._answered = False  # has this server answered anything yet?

    @classmethod
    def from_credentials(cls, **kw) -> ApiClient:
        from . import credentials

        creds = credentials.resolve()
        return cls(creds.server, creds.token, **kw)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        headers: dict | None = None,
        idempotent: bool | None = None,
        content: bytes | None = None,
    ) -> Any:
        """The decoded answer; errors raised as ``qylon_cli.errors``. ``idempotent=True``
        retries a POST even once sent (it carries an Idempotency-Key). ``content``: a raw
        body instead of ``json``."""
        return self._result(
            self.send(
                method,
                path,
                json=json,
                params=params,
                headers=headers,
                idempotent=idempotent,
                content=content,
            )
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        headers: dict | None = None,
        idempotent: bool | None = None,
        content: bytes | None = None,
    ):
        """The server's response after the retries (any status); transport failures raise."""
        import httpx2

        method = method.upper()
        safe = method in IDEMPOTENT if idempotent is None else idempotent
        params = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self.http.request(
                    method, path, json=json, params=params, headers=headers, content=content
                )
            except httpx2.TransportError as exc:
                if _certificate_failure(exc):
                    raise Unavailable(
                        f"The TLS certificate of {self.server} could not be verified: {_certificate_failure(exc)}.",
                        code="certificate_failed",
                        hint="If the server uses a private certificate authority, point SSL_CERT_FILE at its "
                        "certificate (PEM); never switch verification off.",
                    ) from None
                sent = not isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout))
                retries = self.retries if sent or self._answered else min(self.retries, 1)
                if attempt < retries and (safe or not sent):
                    self._wait(attempt)
                    attempt += 1
                    continue
                raise Unavailable(
                    f"Cannot reach the Qylon server at {self.server}: {describe(exc)}.",
                    hint="Check the URL and your network; `qylon auth status` shows the server in use.",
                ) from None
            self._answered = True
            if response.status_code in RETRY_STATUS and attempt < self.retries and safe:
                self._wait(attempt)
                attempt += 1
                continue
            if (response.status_code == 429 or _lost_race(response)) and attempt < self.retries:
                self.sleep(min(self.max_wait, _retry_after(response)))
                attempt += 1
                continue
            return response

    def _wait(self, attempt: int) -> None:
        delay = min(self.max_wait, self.backoff * (2**attempt))
        self.sleep(delay * (0.5 + random.random() / 2))

    def check(self, response):
        """``response`` when it succeeded; its error raised as ``qylon_cli.errors`` if not."""
        if response.status_code >= 400:
            raise error_from(response, self.server)
        return response

    def _result(self, response) -> Any:
        if response.status_code < 400:
            if response.status_code == 204 or not response.content:
                return None
            return response.json()
        raise error_from(response, self.server)

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json)

    def put(self, path: str, json: Any) -> Any:
        return self.request("PUT", path, json=json)

    def patch(self, path: str, json: Any) -> Any:
        return self.request("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def pages(self, path: str, *, page_size: int = 200, **params) -> Iterator[dict]:
        """Every item of a paginated list."""
        offset = 0
        while True:
            page = self.get(path, limit=page_size, offset=offset, **params)
            yield from page["items"]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return


LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


class InsecureServer(QylonError):
    exit_code = EXIT_USAGE
    code = "insecure_server"


def check_transport(server: str, insecure: bool | None = None) -> None:
    """Refuse to send an API key over plain http:// to another machine, unless the user
    said so (``--insecure`` on login, or the ``server.insecure`` setting)."""
    from urllib.parse import urlsplit

    url = urlsplit(server)
    if (
        url.scheme != "http"
        or (url.hostname or "") in LOOPBACK
        or (url.hostname or "").startswith("127.")
    ):
        return
    if insecure is None:
        from . import settings

        insecure = bool(settings.load().get("server.insecure", False))
    if not insecure:
        raise InsecureServer(
            f"Refusing to send the API key over plain http:// to {url.hostname}: anyone on the network could read it.",
            hint="Use the server's https:// address. If you accept the risk (a trusted network), log in with "
            "`qylon auth login --insecure` or set QYLON_SERVER_INSECURE=1.",
        )


def _certificate_failure(exc) -> str | None:
    """The reason, when a transport error is a failed certificate check."""
    import ssl

    cause = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause.verify_message or str(cause)
        cause = cause.__cause__ or cause.__context__
    return None


def describe(exc) -> str:
    """A transport error in words ("connection refused"), not its class name."""
    import httpx2

    if isinstance(exc, httpx2.ConnectTimeout):
        return "no connection within the connect timeout"
    if isinstance(exc, httpx2.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx2.RemoteProtocolError):
        return "the connection closed before a complete answer"
    cause = exc
    while cause is not None:
        if isinstance(cause, OSError) and (cause.strerror or cause.args):
            reason = cause.strerror or str(cause.args[-1])
            return reason[0].lower() + reason[1:] if reason else "could not connect"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).strip()
    if text:
        return text[0].lower() + text[1:].rstrip(".")
    return "could not connect" if isinstance(exc, httpx2.ConnectError) else "network error"


LOST_RACE = {"try_again", "version_conflict"}  # the server's 409s that changed nothing


def _lost_race(response) -> bool:
    if response.status_code != 409:
        return False
    try:
        return response.json()["error"]["code"] in LOST_RACE
    except (ValueError, KeyError, TypeError):
        return False


def _retry_after(response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def error_from(response, server: str) -> QylonError:
    try:
        detail = response.json().get("error") or {}
    except ValueError:
        detail = {}
    status = response.status_code
    message = detail.get("message") or f"The server answered {status}."
    code, hint = detail.get("code"), detail.get("hint")
    if status == 401:
        hint = hint or "Run `qylon auth login`, or check QYLON_TOKEN."
    elif status == 429:
        hint, code = hint or "Wait a moment and retry.", code or "rate_limited"
    elif status >= 500:
        message, code = f"The Qylon server at {server} failed: {message}", code or "server_error"
    return from_status(status, message, hint=hint, code=code)
