"""The ``http.request`` action: one HTTP call with an idempotency key, to allowed hosts only.

Definitions are uploaded by admins of any organisation, so the server must not call
whatever URL one names (server-side request forgery: cloud metadata, the database, an
internal admin page). ``QYLON_WORKFLOW_HTTP_ALLOW`` lists what steps may call:

- a host, ``api.example.com``, any port and http or https; ``host:8443`` that port only;
  ``*.example.com`` any host under example.com (not example.com itself);
- a URL prefix, ``https://hooks.example.com/crm/``: that scheme, host and port, and a
  path under that one (``/crm`` also allows ``/crm/x``, never ``/crmx``).

Empty (the default): every step fails with ``not_allowed``. Redirects are not followed
(a 3xx is the answer), so an allowed host cannot send a step elsewhere; a path with
``.`` or ``..`` segments (also percent-encoded) is refused.

Each request carries ``Idempotency-Key: {run_id}.{step}``, the same across retries and
after a crash, so a service that deduplicates applies a step's effect once although the
step may be sent more than once (steps run at least once).
"""

from __future__ import annotations

import json as jsonlib
import time
from dataclasses import dataclass
from typing import Any

SETTING = "QYLON_WORKFLOW_HTTP_ALLOW"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
ARGS = {"method", "url", "headers", "json", "body", "expect"}
TIMEOUT_S = 30.0  # one request, at most (less when the step's deadline is nearer)
MAX_RESPONSE = 64 * 1024  # bytes of a response body kept as the step's output
MAX_REQUEST = 1024 * 1024  # bytes of a request body
HEADERS_KEPT = (
    "content-type",
    "content-length",
    "location",
    "etag",
    "last-modified",
    "retry-after",
    "idempotency-key",
    "x-request-id",
)
REFUSED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


class HttpError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Allowed:
    host: str  # lower case; "*.example.com" for a domain's subdomains
    port: int | None = None  # None: any
    scheme: str | None = None  # None: http or https
    path: str | None = None  # a URL prefix's path

    def matches(self, scheme: str, host: str, port: int, path: str) -> bool:
        if self.host.startswith("*."):
            if not host.endswith(self.host[1:]):
                return False
        elif host != self.host:
            return False
        if self.scheme is not None and scheme != self.scheme:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.path is not None:
            prefix = self.path.rstrip("/")
            return path == prefix or path.startswith(prefix + "/") or self.path == "/"
        return True


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def parse_allow(value: str) -> list[Allowed]:
    """The entries of ``QYLON_WORKFLOW_HTTP_ALLOW``; ValueError naming a bad one."""
    import httpx2

    entries = []
    for raw in (part.strip() for part in (value or "").split(",")):
        if not raw:
            continue
        try:
            url = httpx2.URL(raw if "://" in raw else f"http://{raw}")
        except Exception:  # noqa: BLE001 - any parse failure is a bad entry
            url = None
        bad = (
            url is None
            or not url.host
            or url.userinfo
            or url.query
            or url.fragment
            or url.scheme not in ("http", "https")
            or ("://" not in raw and url.path not in ("", "/"))
            or ("*" in url.host and (not url.host.startswith("*.") or "*" in url.host[2:]))
        )
        if bad:
            raise ValueError(
                f"{SETTING}: {raw!r} is neither a host (api.example.com, host:8443, "
                "*.example.com) nor an http(s) URL prefix (https://hooks.example.com/crm/)"
            )
        if "://" in raw:
            entries.append(
                Allowed(
                    url.host.lower(),
                    url.port or _default_port(url.scheme),
                    url.scheme,
                    url.path or "/",
                )
            )
        else:
            entries.append(Allowed(url.host.lower(), url.port))
    return entries


def check_url(url_text: str, allow: str):
    """The parsed URL when the allow-list lets a step call it; else ``not_allowed`` (or
    ``invalid_input`` for a URL that is not one)."""
    import httpx2

    try:
        url = httpx2.URL(url_text)
    except Exception as exc:  # noqa: BLE001
        raise HttpError("invalid_input", f"url: not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise HttpError("invalid_input", "url: an absolute http:// or https:// URL is needed")
    if url.userinfo:
        raise HttpError("invalid_input", "url: credentials in the URL are refused; use headers")
    segments = url.path.split("/")
    if "." in segments or ".." in segments:
        raise HttpError("invalid_input", "url: '.' and '..' path segments are refused")
    try:
        entries = parse_allow(allow)
    except ValueError as exc:
        raise HttpError("not_allowed", str(exc)) from None
    if not entries:
        raise HttpError(
            "not_allowed",
            f"HTTP steps are off on this server: {SETTING} is empty (an admin of the "
            "server lists the hosts or URL prefixes that steps may call).",
        )
    host, port = url.host.lower(), url.port or _default_port(url.scheme)
    if not any(entry.matches(url.scheme, host, port, url.path) for entry in entries):
        raise HttpError(
            "not_allowed",
            f"{url.scheme}://{url.netloc.decode()}{url.path} is not in {SETTING}.",
        )
    return url


def _arguments(args: dict) -> dict:
    unknown = sorted(set(args) - ARGS)
    if unknown:
        raise HttpError(
            "invalid_input", f"unknown parameter(s) {', '.join(unknown)}; known: {sorted(ARGS)}"
        )
    method = str(args.get("method") or "GET").upper()
    if method not in METHODS:
        raise HttpError("invalid_input", f"method must be one of {', '.join(METHODS)}")
    url = args.get("url")
    if not isinstance(url, str) or not url.strip():
        raise HttpError("invalid_input", "url is required")
    headers = args.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in headers.items()
    ):
        raise HttpError("invalid_input", "headers must map names to strings")
    refused = sorted(k for k in headers if k.lower() in REFUSED_HEADERS)
    if refused:
        raise HttpError("invalid_input", f"headers: {', '.join(refused)} cannot be set")
    if "json" in args and "body" in args:
        raise HttpError("invalid_input", "give json or body, not both")
    if "body" in args and not isinstance(args["body"], str):
        raise HttpError("invalid_input", "body must be a string (use json for data)")
    expect = args.get("expect")
    if expect is not None:
        if isinstance(expect, int) and not isinstance(expect, bool):
            expect = [expect]
        if not isinstance(expect, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in expect
        ):
            raise HttpError("invalid_input", "expect must be a list of HTTP statuses (100-599)")
    content = None
    if "json" in args:
        content = jsonlib.dumps(args["json"]).encode()
    elif "body" in args:
        content = args["body"].encode()
    if content is not None and len(content) > MAX_REQUEST:
        raise HttpError("invalid_input", f"the request body is over {MAX_REQUEST} bytes")
    return {
        "method": method,
        "url": url.strip(),
        "headers": {k: str(v) for k, v in headers.items()},
        "content": content,
        "json": "json" in args,
        "expect": expect,
    }


def _read(response) -> tuple[bytes, bool]:
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > MAX_RESPONSE:
            return bytes(body[:MAX_RESPONSE]), True
    return bytes(body), False


def _output(response, body: bytes, truncated: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": response.status_code,
        "headers": {k: response.headers[k] for k in HEADERS_KEPT if k in response.headers},
    }
    text = body.decode(response.encoding or "utf-8", errors="replace")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not truncated and (kind == "application/json" or kind.endswith("+json")):
        try:
            out["json"] = jsonlib.loads(text) if text.strip() else None
            return out
        except ValueError:
            pass
    out["text"] = text
    if truncated:
        out["truncated"] = True
    return out


def request(args: dict, *, allow: str, idempotency_key: str, deadline: float | None) -> dict:
    """Send the request ``args`` describe; its output, or an ``HttpError``:
    ``unavailable`` (no answer, a timeout, 5xx, 429: worth retrying), ``http_error`` (any
    other status not expected), ``not_allowed``, ``invalid_input``, ``timeout``."""
    import httpx2

    call = _arguments(args)
    url = check_url(call["url"], allow)
    timeout = TIMEOUT_S
    if deadline is not None:
        timeout = min(timeout, deadline - time.time())
        if timeout <= 0:
            raise HttpError("timeout", "the step's timeout passed before the request")
    headers = {**call["headers"], "Idempotency-Key": idempotency_key}
    if call["json"] and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    where = f"{call['method']} {url.scheme}://{url.netloc.decode()}{url.path}"
    try:
        with (
            httpx2.Client(timeout=timeout, follow_redirects=False) as client,
            client.stream(call["method"], url, headers=headers, content=call["content"]) as r,
        ):
            body, truncated = _read(r)
    except httpx2.TimeoutException:
        raise HttpError("unavailable", f"{where}: no answer within {timeout:.0f}s") from None
    except httpx2.TransportError as exc:
        raise HttpError("unavailable", f"{where}: {type(exc).__name__}: {exc}"[:500]) from None
    status = r.status_code
    expected = 200 <= status < 300 if call["expect"] is None else status in call["expect"]
    if expected:
        return _output(r, body, truncated)
    snippet = body[:300].decode("utf-8", errors="replace")
    message = f"HTTP {status} from {where}: {snippet}"[:1000]
    if status >= 500 or status == 429:
        raise HttpError("unavailable", message)
    raise HttpError("http_error", message)
