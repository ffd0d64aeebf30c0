"""The fakes kept honest: an ASGI layer that checks every request a fake receives and
every JSON answer it gives against the vendor's published description (openapi-core,
the subsets in specs/, converted by specs/convert.py).

A request or an answer that breaks the description is answered ``500`` with
``{"spec_violation": {"side", "method", "path", "status"?, "error"}}`` and kept in
``violations``; the fakes' fixtures call ``assert_clean()`` when they stop, so the test
that caused it fails loudly even where the client retried or swallowed the 500.
Paths the vendor's document does not describe (OAuth, a download served from another
host) are named in ``outside`` (or left out of ``inside``) and pass unchecked; any other
path the document lacks is a violation. Downloads (answers that are not JSON) are passed through as they stream.
"""

from __future__ import annotations

import json
import weakref
from urllib.parse import parse_qsl

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from .specs.convert import openapi

_LIVE: weakref.WeakSet = weakref.WeakSet()


def live_checks() -> list[SpecCheck]:
    """The checks of the fakes alive in this process (tests/plugins/conftest.py reads them)."""
    return list(_LIVE)


class SpecViolation(AssertionError):
    """A fake's exchange broke its vendor's description."""


class SpecCheck:
    """``SpecCheck(app, "google", outside=("/token",))``: ``app`` behind the checks."""

    def __init__(
        self, app, vendor: str, *, outside: tuple[str, ...] = (), inside: tuple[str, ...] = ("/",)
    ) -> None:
        """Paths under ``inside`` and not under ``outside`` are checked."""
        self.app = app
        self.vendor = vendor
        self.api = OpenAPI.from_dict(openapi(vendor))
        self.inside, self.outside = inside, outside
        self.violations: list[dict] = []
        self.checked = 0  # exchanges checked (requests, and JSON answers)
        _LIVE.add(self)

    def take(self) -> list[dict]:
        """The violations found so far, forgotten here (a test that provokes them)."""
        found, self.violations = self.violations, []
        return found

    def assert_clean(self) -> None:
        if self.violations:
            found = self.take()
            raise SpecViolation(
                f"the fake {self.vendor} broke its vendor's description:\n"
                + "\n".join(json.dumps(v, indent=1) for v in found)
            )

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith(self.inside)
            or path.startswith(self.outside)
        ):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope.get("raw_path", scope["path"].encode()).decode("ascii").split("?")[0]
        host = f"{scope.get('scheme', 'http')}://{headers.get('host', 'localhost')}"
        request = MockRequest(
            host,
            scope["method"],
            path,
            args=parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True),
            headers=headers,
            data=body,
            content_type=headers.get("content-type", "").split(";")[0] or "application/json",
        )
        where = {"method": scope["method"], "path": path}
        try:
            self.api.validate_request(request)
        except Exception as exc:  # noqa: BLE001 - each of openapi-core's errors is a finding
            await self._refuse(send, {"side": "request", **where, "error": _explain(exc)})
            return
        finally:
            self.checked += 1

        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                if kind and b"json" not in kind:  # a download: streamed as it comes, unchecked
                    start["stream"] = True
                    await send(message)
                return
            if start.get("stream"):
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            answer = b"".join(chunks)
            status = start["status"]
            kind = dict(start.get("headers", [])).get(b"content-type", b"").decode()
            response = MockResponse(answer, status, content_type=kind.split(";")[0])
            try:
                self.api.validate_response(request, response)
            except Exception as exc:  # noqa: BLE001
                finding = {"side": "response", **where, "status": status, "error": _explain(exc)}
                await self._refuse(send, finding)
                return
            finally:
                self.checked += 1
            await send(start)
            await send({"type": "http.response.body", "body": answer})

        await self.app(scope, replay, capture)

    async def _refuse(self, send, finding: dict) -> None:
        self.violations.append(finding)
        body = json.dumps({"spec_violation": finding}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _explain(exc: BaseException) -> str:
    """openapi-core's error, with the schema errors under it where there are some (its
    own message repeats the whole value)."""
    messages, found, seen = [], [], exc
    while seen is not None:
        messages.append(str(seen))
        errors = getattr(seen, "schema_errors", None) or []
        found += [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in errors]
        seen = seen.__cause__
    return f"{type(exc).__name__}: " + "; ".join(found or messages)
