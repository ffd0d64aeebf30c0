r"""Request guards (pure ASGI), before anything reaches a route:

- bodies over the size limit get 413;
- NUL characters (``\u0000`` in JSON, ``%00`` in the URL) get 422: PostgreSQL text
  cannot hold them, and no field of this API has a use for them.
"""

from __future__ import annotations

import json
import re

# An escaped NUL in JSON: \u0000 preceded by an even number of backslashes.
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class RequestGuards:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            return await self._reject(send, 422, "invalid_input", "The URL contains a NUL character.")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                return await self._reject(send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._reject(send)
            chunks.append(message)
            more = message.get("more_body", False)
        body = b"".join(m.get("body", b"") for m in chunks)
        if b"\x00" in body or (b"u0000" in body and JSON_NUL.search(body)):
            return await self._reject(send, 422, "invalid_input", "The request body contains a NUL character.")
        await self.app(scope, _replay(chunks, receive), send)

    async def _reject(self, send, status: int = 413, code: str = "payload_too_large", message: str | None = None):
        message = message or f"Request body over {self.max_bytes} bytes."
        body = json.dumps({"error": {"code": code, "message": message, "hint": None}}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
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
