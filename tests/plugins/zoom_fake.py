"""A stateful Zoom on loopback: an ASGI app (FastAPI) under uvicorn, speaking the paths,
payloads, error bodies, paging and rate limits of Zoom's API for what Qylon uses.

- ``GET /v2/users/me/recordings`` (``from``, ``to``, ``page_size``, ``next_page_token``):
  the meetings with cloud recordings, each with its ``recording_files``.
- ``GET /v2/past_meetings/{meetingUUID}/participants`` (paged the same way): a UUID that
  starts with ``/`` or holds ``//`` is found only when double-encoded, as Zoom documents.
- ``GET /v2/users/me``; downloads at ``download_url`` with the bearer token, ``Range``
  answered with 206 and ``Content-Range``; ``cut`` (file id -> bytes) breaks the next
  download of that file off after so many bytes by closing the connection.
- OAuth at ``/oauth/authorize`` (redirects with a code) and ``/oauth/token``
  (authorization_code with PKCE S256, refresh_token that rotates, account_credentials),
  the app in HTTP Basic.
- Errors as Zoom writes them: ``{"code", "message"}``; 429 with ``Retry-After`` while
  ``throttle`` says so.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import secrets
import threading
from typing import Self
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from .loopback import Invalid, LoopbackApp, number
from .vendor_spec import SpecCheck


def _error(status: int, code: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _double(uuid: str) -> bool:
    return uuid.startswith("/") or "//" in uuid


class ZoomState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(85000000001)
        self.meetings: list[dict] = []
        self.participants: dict[str, list[dict]] = {}
        self.files: dict[str, bytes] = {}
        self.tokens: set[str] = set()
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> client id
        self.codes: dict[str, dict] = {}
        self.client = {"id": "zoom-client", "secret": "zoom-secret", "account": "acct-1"}
        self.throttle = 0  # this many API requests answer 429 first
        self.cut: dict[str, int] = {}  # file id -> bytes after which the next download breaks
        self.downloads: list[dict] = []  # {"file", "range", "status", "sent"}
        self.page_size_cap = 300
        self.base = ""

    def add_recording(
        self,
        uuid: str,
        topic: str,
        start_time: str,
        duration_min: int,
        files: list[tuple[str, str, bytes]],
        participants: list[tuple[str, str]] = (),
    ) -> dict:
        """A meeting with cloud recording files ``(file_type, recording_type, content)``."""
        meeting_id = next(self.ids)
        recording_files = []
        for file_type, recording_type, content in files:
            file_id = secrets.token_hex(8)
            self.files[file_id] = content
            recording_files.append(
                {
                    "id": file_id,
                    "meeting_id": uuid,
                    "recording_start": start_time,
                    "recording_end": start_time,
                    "file_type": file_type,
                    "file_extension": "VTT" if file_type == "TRANSCRIPT" else file_type,
                    "file_size": len(content),
                    "play_url": f"{self.base}/rec/play/{file_id}",
                    "download_url": f"{self.base}/rec/download/{file_id}",
                    "status": "completed",
                    "recording_type": recording_type,
                }
            )
        meeting = {
            "uuid": uuid,
            "id": meeting_id,
            "account_id": self.client["account"],
            "host_id": "host-1",
            "topic": topic,
            "type": 2,
            "start_time": start_time,
            "timezone": "Europe/Berlin",
            "duration": duration_min,
            "total_size": sum(len(c) for _, _, c in files),
            "recording_count": len(files),
            "share_url": f"{self.base}/rec/share/{meeting_id}",
            "recording_files": recording_files,
        }
        self.meetings.append(meeting)
        self.participants[uuid] = [
            {"id": secrets.token_hex(6), "name": name, "user_email": email}
            for name, email in participants
        ]
        return meeting

    def issue(self, client_id: str, *, refresh: bool = True) -> dict:
        access = secrets.token_urlsafe(24)
        self.tokens.add(access)
        answer = {"access_token": access, "token_type": "bearer", "expires_in": 3599}
        if refresh:
            token = secrets.token_urlsafe(24)
            self.refresh_tokens[token] = client_id
            answer["refresh_token"] = token
        return answer


def _paged(items: list, request: Request, key: str, cap: int, extra: dict) -> dict:
    size = min(number(request.query_params.get("page_size"), 30), cap)
    start = number(request.query_params.get("next_page_token"), 0)
    page = items[start : start + size]
    following = start + size
    return {
        **extra,
        "page_count": max(1, -(-len(items) // size)),
        "page_size": size,
        "total_records": len(items),
        "next_page_token": str(following) if following < len(items) else "",
        key: page,
    }


def make_app(state: ZoomState) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(Invalid)
    async def invalid(_request, exc: Invalid):
        return _error(400, 300, str(exc))

    def gate(request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in state.tokens:
            return _error(401, 124, "Invalid access token.")
        with state.lock:
            if state.throttle > 0:
                state.throttle -= 1
                return _error(
                    429,
                    429,
                    "You have reached the maximum per-second rate limit for this API. Try again later.",
                    {"Retry-After": "0"},
                )
        return None

    @app.get("/v2/users/me")
    async def me(request: Request):
        return gate(request) or {"id": "host-1", "email": "bob@consult.example", "type": 2}

    @app.get("/v2/users/me/recordings")
    async def recordings(request: Request):
        if refused := gate(request):
            return refused
        first = request.query_params.get("from")
        last = request.query_params.get("to")
        if not first:
            return _error(400, 300, "The from field is required.")
        found = [
            m
            for m in state.meetings
            if first <= m["start_time"][:10] and (not last or m["start_time"][:10] <= last)
        ]
        return _paged(found, request, "meetings", state.page_size_cap, {"from": first, "to": last})

    @app.get("/v2/past_meetings/{rest:path}")
    async def participants(request: Request, rest: str):
        if refused := gate(request):
            return refused
        raw = request.scope["raw_path"].decode("ascii")
        segment = raw.split("/past_meetings/", 1)[1].rsplit("/participants", 1)[0]
        once = unquote(segment)
        uuid = None
        if once in state.participants and not _double(once):
            uuid = once
        elif unquote(once) in state.participants and _double(unquote(once)):
            uuid = unquote(once)
        if uuid is None or not rest.endswith("/participants"):
            return _error(404, 3001, f"Meeting does not exist: {once}.")
        return _paged(state.participants[uuid], request, "participants", state.page_size_cap, {})

    @app.get("/rec/download/{file_id}")
    async def download(request: Request, file_id: str):
        if refused := gate(request):
            return refused
        content = state.files.get(file_id)
        if content is None:
            return _error(404, 3301, "This recording does not exist.")
        wanted = request.headers.get("range")
        start, status, headers = 0, 200, {}
        if wanted and wanted.startswith("bytes="):
            start = int(wanted[6:].split("-")[0] or 0)
            if start >= len(content):
                return Response(
                    status_code=416, headers={"Content-Range": f"bytes */{len(content)}"}
                )
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
        body = content[start:]
        cut = state.cut.pop(file_id, None)
        record = {"file": file_id, "range": wanted, "status": status, "sent": 0}
        state.downloads.append(record)
        headers.update({"Content-Length": str(len(body)), "Accept-Ranges": "bytes"})

        async def chunks():
            step = 4096
            for at in range(0, len(body), step):
                piece = body[at : at + step]
                if cut is not None and record["sent"] + len(piece) > cut:
                    piece = piece[: cut - record["sent"]]
                    record["sent"] += len(piece)
                    yield piece
                    await asyncio.sleep(0.05)
                    raise ConnectionResetError("the fake cut the download")
                record["sent"] += len(piece)
                yield piece

        return StreamingResponse(
            chunks(), status_code=status, headers=headers, media_type="audio/mp4"
        )

    def _basic(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return None
        client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        ok = client_id == state.client["id"] and secret == state.client["secret"]
        return client_id if ok else None

    @app.get("/oauth/authorize")
    async def authorize(request: Request):
        q = request.query_params
        code = secrets.token_urlsafe(12)
        state.codes[code] = {
            "client_id": q["client_id"],
            "redirect_uri": q["redirect_uri"],
            "challenge": q.get("code_challenge"),
        }
        return RedirectResponse(f"{q['redirect_uri']}?code={code}&state={q['state']}")

    @app.post("/oauth/token")
    async def token(request: Request):
        form = await request.form()
        client_id = _basic(request)
        if client_id is None:
            return JSONResponse(
                {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}, 401
            )
        grant = form.get("grant_type") or request.query_params.get("grant_type")
        if grant == "account_credentials":
            account = form.get("account_id") or request.query_params.get("account_id")
            if account != state.client["account"]:
                return JSONResponse(
                    {"reason": "Invalid account_id", "error": "invalid_request"}, 400
                )
            return {
                **state.issue(client_id, refresh=False),
                "scope": "cloud_recording:read:list_user_recordings:admin",
            }
        if grant == "authorization_code":
            given = state.codes.pop(form.get("code"), None)
            verifier = form.get("code_verifier") or ""
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if (
                not given
                or given["redirect_uri"] != form.get("redirect_uri")
                or digest.rstrip(b"=").decode() != given["challenge"]
            ):
                return JSONResponse(
                    {"reason": "Invalid authorization code", "error": "invalid_grant"}, 400
                )
            return state.issue(client_id)
        if grant == "refresh_token":
            # Zoom rotates refresh tokens: the one used stops working.
            if state.refresh_tokens.pop(form.get("refresh_token"), None) != client_id:
                return JSONResponse({"reason": "Invalid Token!", "error": "invalid_request"}, 400)
            return state.issue(client_id)
        return JSONResponse(
            {"reason": "Unsupported grant type", "error": "unsupported_grant_type"}, 400
        )

    return app


class FakeZoom(LoopbackApp):
    """The app under uvicorn in a thread, on a free loopback port, behind the checks
    against Zoom's OpenAPI document (OAuth and the downloads are outside it)."""

    def __init__(self) -> None:
        self.state = ZoomState()
        self.spec = SpecCheck(make_app(self.state), "zoom", outside=("/oauth/", "/rec/"))
        super().__init__(self.spec, log_level="critical")

    def __enter__(self) -> Self:
        super().__enter__()
        self.state.base = self.url
        return self

    def reset(self) -> ZoomState:
        self.state.__init__()
        self.state.base = self.url
        return self.state
