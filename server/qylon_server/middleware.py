r"""Request guards (pure ASGI), before anything reaches a route, in this order:

- at most ``max_concurrent`` requests at a time: more get 503 with Retry-After;
- NUL characters in the URL (``%00``) get 422: PostgreSQL text cannot hold them;
- a request that carries a body must first show a well-formed API key
  (``Authorization: Bearer qyl_live_...``), or be a page's form posted with its signed
  link (``POST /p/...?t=``, checked by the page): without one it gets 401, or 429 once its
  address is over the failed-authentication limit, and its body is never read;
- only the routes that take uploads (a meeting, a bulk batch of users, a SCIM group)
  accept bodies up to ``max_bytes``; every other route up to ``small_bytes``: 413 beyond;
- a body must arrive within ``timeout_s`` seconds: 408 after that;
- a NUL in the body (``\u0000`` in JSON) gets 422.
"""

from __future__ import annotations

import json
import re

import anyio

from .errors import ApiError
from .keys import looks_like_key

# An escaped NUL in JSON: \u0000 preceded by an even number of backslashes.
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# (method, path) of the routes that take large bodies
UPLOADS = re.compile(
    r"^(PUT /v1/meetings/[^/]+|POST /v1/users/bulk|(PUT|PATCH|POST) /scim/v2/Groups(/[^/]+)?"
    r"|POST /v1/compliance/items/[^/]+/complete|POST /p/evidence"
    r"|POST /v1/transcription-jobs/[^/]+/complete)/?$"
)
# Recordings (transcription jobs): binary, up to max_audio_bytes, NUL bytes allowed
AUDIO = re.compile(r"^POST /v1/transcription-jobs/?$")
# Pages for people without a key (pages/): a form posts with its signed link (``?t=``),
# which the route checks; no API key is asked for
PAGES = re.compile(r"^POST /p/[a-z-]+/?$")


class RequestGuards:
    def __init__(
        self,
        app,
        *,
        max_bytes: int,
        small_bytes: int,
        audio_bytes: int | None = None,
        timeout_s: float,
        max_concurrent: int,
        limiter,
    ):
        self.app = app
        self.max_bytes, self.small_bytes = max_bytes, min(small_bytes, max_bytes)
        self.audio_bytes = audio_bytes or max_bytes
        self.timeout_s, self.max_concurrent, self.limiter = timeout_s, max_concurrent, limiter
        self.active = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.active >= self.max_concurrent:
            return await _reject(send, 503, "unavailable", "The server is busy.", retry_after=1)
        self.active += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.active -= 1

    async def _guarded(self, scope, receive, send):
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            return await _reject(send, 422, "invalid_input", "The URL contains a NUL character.")
        headers = dict(scope["headers"])
        if not _has_body(headers):
            return await self.app(scope, receive, send)
        refused = self._unauthenticated(scope, headers)
        if refused is not None:
            return await _reject(
                send, refused.status, refused.code, refused.message, headers=refused.headers
            )
        route = f"{scope['method']} {scope['path']}"
        audio = AUDIO.match(route) is not None
        limit = (
            self.audio_bytes
            if audio
            else self.max_bytes
            if UPLOADS.match(route)
            else self.small_bytes
        )
        try:
            too_big = int(headers.get(b"content-length", b"0")) > limit
        except ValueError:
            too_big = False
        if too_big:
            return await _reject(
                send, 413, "payload_too_large", f"Request body over {limit} bytes."
            )
        try:
            with anyio.fail_after(self.timeout_s):
                chunks = await _read(receive, limit)
        except TimeoutError:
            return await _reject(
                send,
                408,
                "request_timeout",
                f"The request body did not arrive within {self.timeout_s:g} s.",
            )
        if chunks is None:
            return await _reject(
                send, 413, "payload_too_large", f"Request body over {limit} bytes."
            )
        if isinstance(chunks, dict):  # the client went away
            return await self.app(scope, _replay([chunks]), send)
        body = b"".join(m.get("body", b"") for m in chunks)
        if not audio and (b"\x00" in body or (b"u0000" in body and JSON_NUL.search(body))):
            return await _reject(
                send, 422, "invalid_input", "The request body contains a NUL character."
            )
        await self.app(scope, _replay(chunks, receive), send)

    def _unauthenticated(self, scope, headers) -> ApiError | None:
        """The refusal for a request without a well-formed key (None: it has one, or it
        posts a page's form with the page's signed link)."""
        if PAGES.match(f"{scope['method']} {scope['path']}") and b"t=" in scope.get(
            "query_string", b""
        ):
            return None
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and looks_like_key(token.strip()):
            return None
        client = scope.get("client")
        try:
            self.limiter.check_failure(client[0] if client else "unknown")
        except ApiError as exc:
            return exc
        return ApiError(
            401,
            "Missing or malformed API key.",
            code="not_authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _has_body(headers: dict) -> bool:
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0") not in (
        b"0",
        b"",
    )


async def _read(receive, limit: int):
    """The body's messages; None when over ``limit``; the disconnect message if the client left."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return message
        size += len(message.get("body", b""))
        if size > limit:
            return None
        chunks.append(message)
        more = message.get("more_body", False)
    return chunks


async def _reject(
    send, status: int, code: str, message: str, *, retry_after: int | None = None, headers=None
):
    body = json.dumps({"error": {"code": code, "message": message, "hint": None}}).encode()
    extra = [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
    if retry_after is not None:
        extra.append((b"retry-after", str(retry_after).encode()))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _replay(messages, then=None):
    queue = list(messages)

    async def receive():
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
