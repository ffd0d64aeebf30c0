"""A stateful Google on loopback: an ASGI app (FastAPI) under uvicorn, speaking the paths,
payloads, error bodies, paging and rate limits of the Google APIs Qylon uses.

- OAuth for installed apps: ``GET /o/oauth2/v2/auth`` (redirects to the loopback
  ``redirect_uri`` with a code; PKCE S256), ``POST /token`` (``authorization_code`` with the
  verifier, ``refresh_token``: a new access token and no new refresh token), the client id
  and secret in the form; errors as ``{"error", "error_description"}``.
- Calendar v3: ``GET /calendar/v3/calendars/primary`` and ``.../primary/events``
  (``timeMin``, ``timeMax``, ``singleEvents``, ``orderBy=startTime``, ``pageToken``).
- Meet v2: ``GET /v2/conferenceRecords`` (``filter`` on ``start_time``, ``pageSize``,
  ``pageToken``), ``/v2/conferenceRecords/{id}``, ``/participants``, ``/recordings``,
  ``/transcripts``, ``/transcripts/{id}/entries``, ``GET /v2/spaces/{id}``.
- Drive v3: ``GET /drive/v3/files/{id}?alt=media`` with ``Range`` (206) and ``cut``.
- API errors as ``{"error": {"code", "message", "status"}}``; 429 while ``throttle`` says so.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Self

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .loopback import Invalid, LoopbackApp, moment, number, ranged
from .vendor_spec import SpecCheck

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
}


def _error(code: int, message: str, headers=None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN")}}
    return JSONResponse(body, status_code=code, headers=headers)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class GoogleState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.client = {"id": "qylon-desktop.apps.googleusercontent.com", "secret": "GOCSPX-test"}
        self.user = {"email": "bob@consult.example", "name": "Bob Stone"}
        self.events: list[dict] = []
        self.records: dict[str, dict] = {}  # conference record id -> record
        self.spaces: dict[str, dict] = {}
        self.participants: dict[str, list[dict]] = {}
        self.recordings: dict[str, list[dict]] = {}
        self.transcripts: dict[str, list[dict]] = {}
        self.entries: dict[str, list[dict]] = {}  # transcript name -> entries
        self.files: dict[str, bytes] = {}  # Drive file id -> bytes
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.codes: dict[str, dict] = {}
        self.token_grants: list[str] = []
        self.throttle = 0
        self.cut: dict[str, int] = {}
        self.downloads: list[dict] = []
        self.page_size_cap = 100

    def add_conference(
        self,
        start: datetime,
        minutes: int,
        people: list[str],
        *,
        said: list[tuple[str, float, str]] = (),
        video: bytes | None = None,
        event: tuple[str, list[tuple[str, str]]] | None = None,
    ) -> dict:
        """A Meet conference: its space (a meeting code), its participants, a transcript
        (``said``: speaker, seconds from the start, text), a recording kept in Drive, and a
        calendar event ``(summary, attendees)`` that carries the code."""
        n = next(self.ids)
        code = f"abc-{n:04d}-xyz"
        space = f"spaces/sp{n:04d}"
        self.spaces[space] = {
            "name": space,
            "meetingUri": f"https://meet.google.com/{code}",
            "meetingCode": code,
            "config": {"accessType": "TRUSTED"},
        }
        rid = f"rec-{n:04d}"
        end = start + timedelta(minutes=minutes)
        record = {
            "name": f"conferenceRecords/{rid}",
            "startTime": rfc3339(start),
            "endTime": rfc3339(end),
            "expireTime": rfc3339(end + timedelta(days=30)),
            "space": space,
        }
        self.records[rid] = record
        self.participants[rid] = []
        names = {}
        for i, person in enumerate(people):
            pname = f"{record['name']}/participants/p{i}"
            names[person] = pname
            self.participants[rid].append(
                {
                    "name": pname,
                    "earliestStartTime": record["startTime"],
                    "latestEndTime": record["endTime"],
                    "signedinUser": {"user": f"users/{100 + i}", "displayName": person},
                }
            )
        self.transcripts[rid], self.recordings[rid] = [], []
        if said:
            tname = f"{record['name']}/transcripts/t{n}"
            self.transcripts[rid].append(
                {
                    "name": tname,
                    "state": "FILE_GENERATED",
                    "startTime": record["startTime"],
                    "endTime": record["endTime"],
                    "docsDestination": {
                        "document": f"doc{n}",
                        "exportUri": f"https://docs.google.com/document/d/doc{n}",
                    },
                }
            )
            self.entries[tname] = [
                {
                    "name": f"{tname}/entries/e{i}",
                    "participant": names[who],
                    "text": text,
                    "languageCode": "en-US",
                    "startTime": rfc3339(start + timedelta(seconds=at)),
                    "endTime": rfc3339(start + timedelta(seconds=at + 4)),
                }
                for i, (who, at, text) in enumerate(said)
            ]
        if video is not None:
            file_id = f"1dRiVe{secrets.token_hex(6)}"
            self.files[file_id] = video
            self.recordings[rid].append(
                {
                    "name": f"{record['name']}/recordings/r{n}",
                    "state": "FILE_GENERATED",
                    "startTime": record["startTime"],
                    "endTime": record["endTime"],
                    "driveDestination": {
                        "file": file_id,
                        "exportUri": f"https://drive.google.com/file/d/{file_id}/view?usp=drive_web",
                    },
                }
            )
        if event:
            summary, attendees = event
            self.add_event(summary, start, minutes, attendees, code=code)
        return record

    def add_event(
        self, summary: str, start: datetime, minutes: int, attendees=(), *, code: str | None = None
    ) -> dict:
        event = {
            "kind": "calendar#event",
            "id": f"evt{next(self.ids):04d}",
            "status": "confirmed",
            "summary": summary,
            "start": {"dateTime": rfc3339(start), "timeZone": "UTC"},
            "end": {"dateTime": rfc3339(start + timedelta(minutes=minutes)), "timeZone": "UTC"},
            "organizer": {"email": self.user["email"], "self": True},
            "attendees": [
                {
                    "email": self.user["email"],
                    "organizer": True,
                    "self": True,
                    "responseStatus": "accepted",
                }
            ]
            + [{"email": e, "displayName": n, "responseStatus": "accepted"} for n, e in attendees],
        }
        if code:
            uri = f"https://meet.google.com/{code}"
            event["hangoutLink"] = uri
            event["conferenceData"] = {
                "conferenceId": code,
                "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
                "entryPoints": [{"entryPointType": "video", "uri": uri, "label": uri[8:]}],
            }
        self.events.append(event)
        return event

    def issue(self, *, refresh: bool) -> dict:
        access = "ya29." + secrets.token_urlsafe(24)
        self.tokens.add(access)
        answer = {
            "access_token": access,
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": "...",
        }
        if refresh:
            token = "1//" + secrets.token_urlsafe(24)
            self.refresh_tokens.add(token)
            answer["refresh_token"] = token
        return answer


def _paged(request: Request, items: list, key: str, cap: int, size_param: str = "pageSize") -> dict:
    size = min(number(request.query_params.get(size_param), 10), cap)
    start = number(request.query_params.get("pageToken"), 0)
    page = {key: items[start : start + size]}
    if start + size < len(items):
        page["nextPageToken"] = str(start + size)
    return page


def make_app(state: GoogleState) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(Invalid)
    async def invalid(_request, exc: Invalid):
        return _error(400, str(exc))

    @app.get("/o/oauth2/v2/auth")
    async def authorize(request: Request):
        q = request.query_params
        code = "4/" + secrets.token_urlsafe(12)
        state.codes[code] = {
            "redirect_uri": q["redirect_uri"],
            "challenge": q.get("code_challenge"),
        }
        return RedirectResponse(
            f"{q['redirect_uri']}?state={q['state']}&code={code}&scope={q['scope']}"
        )

    @app.post("/token")
    async def token(request: Request):
        form = await request.form()
        if (
            form.get("client_id") != state.client["id"]
            or form.get("client_secret") != state.client["secret"]
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Unauthorized"}, 401
            )
        grant = form.get("grant_type")
        state.token_grants.append(grant)
        if grant == "authorization_code":
            given = state.codes.pop(form.get("code"), None)
            verifier = (form.get("code_verifier") or "").encode()
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
            )
            if (
                not given
                or given["redirect_uri"] != form.get("redirect_uri")
                or digest != given["challenge"]
            ):
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "Bad Request"}, 400
                )
            return state.issue(refresh=True)
        if grant == "refresh_token":
            if form.get("refresh_token") not in state.refresh_tokens:
                return JSONResponse(
                    {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    },
                    400,
                )
            return state.issue(refresh=False)
        return JSONResponse(
            {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, 400
        )

    def gate(request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in state.tokens:
            return _error(401, "Request had invalid authentication credentials.")
        with state.lock:
            if state.throttle > 0:
                state.throttle -= 1
                return _error(
                    429, "Quota exceeded for quota metric 'Read requests'.", {"Retry-After": "0"}
                )
        return None

    @app.get("/calendar/v3/calendars/primary")
    async def primary(request: Request):
        return gate(request) or {
            "kind": "calendar#calendar",
            "id": state.user["email"],
            "summary": state.user["email"],
        }

    @app.get("/calendar/v3/calendars/primary/events")
    async def events(request: Request):
        if refused := gate(request):
            return refused
        q = request.query_params
        if q.get("orderBy") == "startTime" and q.get("singleEvents") != "true":
            return _error(400, "The requested ordering is not available for the particular query.")
        low = moment(q["timeMin"]) if q.get("timeMin") else None
        high = moment(q["timeMax"]) if q.get("timeMax") else None
        if any(t is not None and t.tzinfo is None for t in (low, high)):
            raise Invalid("timeMin and timeMax need a time zone offset (RFC 3339).")
        found = [
            e
            for e in sorted(state.events, key=lambda e: e["start"]["dateTime"])
            if (not high or datetime.fromisoformat(e["start"]["dateTime"]) < high)
            and (not low or datetime.fromisoformat(e["end"]["dateTime"]) > low)
        ]
        page = _paged(request, found, "items", state.page_size_cap, "maxResults")
        return {
            "kind": "calendar#events",
            "summary": state.user["email"],
            "timeZone": "UTC",
            **page,
        }

    @app.get("/v2/conferenceRecords")
    async def records(request: Request):
        if refused := gate(request):
            return refused
        found = list(state.records.values())
        for op, value in re.findall(
            r'start_time\s*(>=|<=)\s*"([^"]+)"', request.query_params.get("filter") or ""
        ):
            bound = moment(value)
            found = [
                r
                for r in found
                if (
                    datetime.fromisoformat(r["startTime"]) >= bound
                    if op == ">="
                    else datetime.fromisoformat(r["startTime"]) <= bound
                )
            ]
        found.sort(key=lambda r: r["startTime"], reverse=True)  # newest first, as Meet lists them
        return _paged(request, found, "conferenceRecords", state.page_size_cap)

    @app.get("/v2/spaces/{space}")
    async def space(request: Request, space: str):
        if refused := gate(request):
            return refused
        found = state.spaces.get(f"spaces/{space}")
        return found or _error(404, "Requested entity was not found.")

    @app.get("/v2/conferenceRecords/{rid}")
    async def record(request: Request, rid: str):
        if refused := gate(request):
            return refused
        return state.records.get(rid) or _error(404, "Requested entity was not found.")

    @app.get("/v2/conferenceRecords/{rid}/{kind}")
    async def listing(request: Request, rid: str, kind: str):
        if refused := gate(request):
            return refused
        table = {
            "participants": state.participants,
            "recordings": state.recordings,
            "transcripts": state.transcripts,
        }.get(kind)
        if table is None or rid not in table:
            return _error(404, "Requested entity was not found.")
        return _paged(request, table[rid], kind, state.page_size_cap)

    @app.get("/v2/conferenceRecords/{rid}/transcripts/{tid}/entries")
    async def entries(request: Request, rid: str, tid: str):
        if refused := gate(request):
            return refused
        found = state.entries.get(f"conferenceRecords/{rid}/transcripts/{tid}")
        if found is None:
            return _error(404, "Requested entity was not found.")
        return _paged(request, found, "transcriptEntries", state.page_size_cap)

    @app.get("/drive/v3/files/{file_id}")
    async def drive(request: Request, file_id: str):
        if refused := gate(request):
            return refused
        body = state.files.get(file_id)
        if body is None:
            return _error(404, f"File not found: {file_id}.")
        if request.query_params.get("alt") != "media":
            return {
                "kind": "drive#file",
                "id": file_id,
                "mimeType": "video/mp4",
                "size": str(len(body)),
            }
        return ranged(request, file_id, body, "video/mp4", state)

    return app


class FakeGoogle(LoopbackApp):
    """The app under uvicorn in a thread, on a free loopback port, behind the checks
    against Google's discovery documents (the sign-in is outside them)."""

    def __init__(self) -> None:
        self.state = GoogleState()
        self.spec = SpecCheck(make_app(self.state), "google", outside=("/o/oauth2/", "/token"))
        super().__init__(self.spec, log_level="critical")

    def reset(self) -> GoogleState:
        self.state.__init__()
        return self.state

    def __enter__(self) -> Self:
        super().__enter__()
        return self
