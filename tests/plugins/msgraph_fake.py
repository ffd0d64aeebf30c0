"""A stateful Microsoft 365 on loopback: an ASGI app (FastAPI) under uvicorn, speaking the
paths, payloads, error bodies, paging and throttling of Microsoft Graph (v1.0) and of the
Microsoft identity platform's device code flow, for what Qylon uses.

Identity (served over https as well: msal refuses an http authority):
- ``GET /{tenant}/v2.0/.well-known/openid-configuration``: the endpoints below.
- ``POST /{tenant}/oauth2/v2.0/devicecode`` (client_id, scope): ``{"device_code",
  "user_code", "verification_uri", "expires_in", "interval", "message"}``.
- ``POST /{tenant}/oauth2/v2.0/token``: the device code grant answers
  ``authorization_pending`` until ``approve_after`` polls have been made (or
  ``authorization_declined`` when ``decline``); ``refresh_token`` answers new tokens, the
  used refresh token then refused. Errors as ``{"error", "error_description",
  "error_codes", ...}``.

Graph (``/v1.0``), bearer tokens only, errors as ``{"error": {"code", "message",
"innerError"}}``, 429 with ``Retry-After`` while ``throttle`` says so, ``@odata.nextLink``
paging capped at ``page_size_cap``:
- ``GET /me``; ``GET /me/calendarView`` (``startDateTime``, ``endDateTime`` required);
- ``GET /me/onlineMeetings?$filter=JoinWebUrl eq '...'``;
- ``GET /me/onlineMeetings/{id}/recordings|transcripts`` and ``.../{itemId}/content``
  (``Range`` answered with 206; ``cut`` breaks the next download of an item off);
  a transcript's content needs ``$format=text/vtt`` (anything else: 400);
- ``GET /me/onlineMeetings/{id}/attendanceReports`` and ``.../{reportId}?$expand=attendanceRecords``.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Self

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .loopback import Invalid, LoopbackApp, moment, number, ranged
from .vendor_spec import SpecCheck

TENANT = "organizations"


def _graph_error(status: int, code: str, message: str, headers=None) -> JSONResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now().isoformat(timespec="seconds"),
                "request-id": str(uuid.uuid4()),
                "client-request-id": str(uuid.uuid4()),
            },
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _identity_error(error: str, description: str, code: int, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_codes": [code],
            "timestamp": datetime.now().isoformat(sep=" ", timespec="seconds") + "Z",
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status_code=status,
    )


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def graph_time(when: datetime) -> str:
    """A Graph timestamp: seven fractional digits and ``Z``."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


class GraphState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.client_id = "qylon-test-app"
        self.user = {
            "id": "48d31887-5fad-4d73-a9f5-3c356e68a038",
            "displayName": "Bob Stone",
            "userPrincipalName": "bob@consult.example",
            "mail": "bob@consult.example",
        }
        self.events: list[dict] = []
        self.meetings: dict[str, dict] = {}  # online meeting id -> {"joinWebUrl", ...}
        self.recordings: dict[str, list[dict]] = {}
        self.transcripts: dict[str, list[dict]] = {}
        self.reports: dict[str, list[dict]] = {}
        self.content: dict[str, bytes] = {}  # recording or transcript id -> bytes
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.device_codes: dict[str, dict] = {}
        self.approve_after = 1  # device code polls answered authorization_pending first
        self.decline = False
        self.throttle = 0  # this many Graph requests answer 429 first
        self.cut: dict[str, int] = {}  # item id -> bytes after which the next download breaks
        self.downloads: list[dict] = []  # {"item", "range", "status"}
        self.page_size_cap = 100
        self.calendar_calls = 0  # calendarView requests (pages included)
        self.base = ""  # the Graph address, http
        self.authority_base = ""  # the same app over https

    # -- building the tenant's data ---------------------------------------------------------
    def add_event(
        self,
        subject: str,
        start: datetime,
        minutes: int,
        attendees: list[tuple[str, str]] = (),
        *,
        teams: bool = True,
    ) -> dict:
        """A calendar event (a Teams meeting with its online meeting when ``teams``)."""
        event_id = f"AAMkAGI2TG93AAA{next(self.ids):04d}="
        join = None
        if teams:
            meeting_id = f"MSo1N2Y5ZGFjYy03MWJmLTQ3NDMtYjQxMy01M2EdFGkdRWHJlQ{next(self.ids):04d}"
            join = (
                "https://teams.microsoft.com/l/meetup-join/19%3ameeting_"
                f"{secrets.token_hex(8)}%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d"
            )
            self.meetings[meeting_id] = {
                "id": meeting_id,
                "joinWebUrl": join,
                "subject": subject,
                "startDateTime": graph_time(start),
                "endDateTime": graph_time(start + timedelta(minutes=minutes)),
            }
            for table in (self.recordings, self.transcripts, self.reports):
                table[meeting_id] = []
        event = {
            "id": event_id,
            "subject": subject,
            "isCancelled": False,
            "isOnlineMeeting": teams,
            "onlineMeetingProvider": "teamsForBusiness" if teams else "unknown",
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
            "end": {
                "dateTime": (start + timedelta(minutes=minutes)).strftime(
                    "%Y-%m-%dT%H:%M:%S.0000000"
                ),
                "timeZone": "UTC",
            },
            "organizer": {
                "emailAddress": {"name": self.user["displayName"], "address": self.user["mail"]}
            },
            "attendees": [
                {
                    "type": "required",
                    "status": {"response": "accepted", "time": "0001-01-01T00:00:00Z"},
                    "emailAddress": {"name": name, "address": email},
                }
                for name, email in attendees
            ],
            "onlineMeeting": {"joinUrl": join} if join else None,
            "onlineMeetingUrl": None,
        }
        self.events.append(event)
        return event

    def meeting_of(self, event: dict) -> str:
        join = event["onlineMeeting"]["joinUrl"]
        return next(m for m, v in self.meetings.items() if v["joinWebUrl"] == join)

    def _artifact(
        self,
        meeting_id: str,
        kind: str,
        start: datetime,
        minutes: int,
        content: bytes,
        correlation: str,
    ) -> dict:
        item_id = base64.b64encode(f"{kind}-{next(self.ids)}".encode()).decode().rstrip("=")
        self.content[item_id] = content
        url = f"{self.base}/v1.0/me/onlineMeetings/{meeting_id}/{kind}s/{item_id}/content"
        item = {
            "id": item_id,
            "meetingId": meeting_id,
            "callId": str(uuid.uuid4()),
            "contentCorrelationId": correlation,
            "createdDateTime": graph_time(start),
            "endDateTime": graph_time(start + timedelta(minutes=minutes)),
            "meetingOrganizer": {"user": {"id": self.user["id"], "displayName": None}},
            f"{kind}ContentUrl": url,
        }
        (self.recordings if kind == "recording" else self.transcripts)[meeting_id].append(item)
        return item

    def add_session(
        self,
        event: dict,
        start: datetime,
        minutes: int,
        *,
        video: bytes | None = None,
        vtt: bytes | None = None,
        attended: list[tuple[str, str]] = (),
    ) -> str:
        """One recorded session of the event's meeting: its recording and/or transcript
        (sharing a ``contentCorrelationId``) and its attendance report."""
        meeting_id = self.meeting_of(event)
        correlation = str(uuid.uuid4())
        if video is not None:
            self._artifact(meeting_id, "recording", start, minutes, video, correlation)
        if vtt is not None:
            self._artifact(meeting_id, "transcript", start, minutes, vtt, correlation)
        if attended:
            self.reports[meeting_id].append(
                {
                    "id": str(uuid.uuid4()),
                    "totalParticipantCount": len(attended),
                    "meetingStartDateTime": graph_time(start - timedelta(minutes=1)),
                    "meetingEndDateTime": graph_time(start + timedelta(minutes=minutes + 1)),
                    "attendanceRecords": [
                        {
                            "id": str(uuid.uuid4()),
                            "emailAddress": email,
                            "totalAttendanceInSeconds": minutes * 60,
                            "role": "Presenter",
                            "identity": {"id": str(uuid.uuid4()), "displayName": name},
                            "attendanceIntervals": [],
                        }
                        for name, email in attended
                    ],
                }
            )
        return correlation

    # -- tokens -----------------------------------------------------------------------------
    def issue(self, scope: str) -> dict:
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(24)
        self.tokens.add(access)
        self.refresh_tokens.add(refresh)
        now = int(time.time())
        claims = {
            "aud": self.client_id,
            "iss": f"{self.authority_base}/{self.user['id']}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": self.user["displayName"],
            "oid": self.user["id"],
            "preferred_username": self.user["userPrincipalName"],
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "tid": "9122040d-6c67-4c5b-b112-36a304b66dad",
            "ver": "2.0",
        }
        return {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": f"{_b64({'typ': 'JWT', 'alg': 'none'})}.{_b64(claims)}.",
            "client_info": _b64({"uid": claims["oid"], "utid": claims["tid"]}),
        }


def _paged(request: Request, items: list, cap: int) -> dict:
    top = min(number(request.query_params.get("$top"), 10), cap)
    skip = number(request.query_params.get("$skip"), 0)
    page = {"value": items[skip : skip + top]}
    if skip + top < len(items):
        query = dict(request.query_params)
        query["$skip"] = str(skip + top)
        query["$top"] = str(top)
        from urllib.parse import urlencode

        page["@odata.nextLink"] = (
            f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{urlencode(query)}"
        )
    return page


def make_app(state: GraphState) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(Invalid)
    async def invalid(_request, exc: Invalid):
        return _graph_error(400, "BadRequest", str(exc))

    # -- identity ---------------------------------------------------------------------------
    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    async def openid(tenant: str):
        base = f"{state.authority_base}/{tenant}"
        return {
            "issuer": f"{state.authority_base}/{{tenantid}}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "response_types_supported": ["code", "id_token", "code id_token"],
        }

    @app.post("/{tenant}/oauth2/v2.0/devicecode")
    async def devicecode(request: Request, tenant: str):
        form = await request.form()
        if form.get("client_id") != state.client_id:
            return _identity_error(
                "unauthorized_client",
                f"Application with identifier '{form.get('client_id')}' was not found.",
                700016,
            )
        code = secrets.token_urlsafe(32)
        user_code = secrets.token_hex(4).upper()
        state.device_codes[code] = {"polls": 0, "scope": form.get("scope") or ""}
        return {
            "user_code": user_code,
            "device_code": code,
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900,
            "interval": 0,
            "message": f"To sign in, use a web browser to open the page "
            f"https://microsoft.com/devicelogin and enter the code {user_code} to authenticate.",
        }

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(request: Request, tenant: str):
        form = await request.form()
        grant = form.get("grant_type")
        if form.get("client_id") != state.client_id:
            return _identity_error("invalid_client", "The client does not exist.", 700016, 401)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            pending = state.device_codes.get(form.get("device_code"))
            if pending is None:
                return _identity_error("expired_token", "The device code expired.", 70020)
            if state.decline:
                return _identity_error(
                    "authorization_declined", "The end user denied the request.", 70019
                )
            pending["polls"] += 1
            if pending["polls"] <= state.approve_after:
                return _identity_error(
                    "authorization_pending",
                    "OAuth 2.0 device flow error. Authorization is pending.",
                    70016,
                )
            del state.device_codes[form.get("device_code")]
            return state.issue(pending["scope"])
        if grant == "refresh_token":
            used = form.get("refresh_token")
            if used not in state.refresh_tokens:
                return _identity_error(
                    "invalid_grant", "The refresh token has expired or is invalid.", 70008
                )
            state.refresh_tokens.discard(used)
            return state.issue(form.get("scope") or "")
        return _identity_error(
            "unsupported_grant_type", f"The grant type {grant!r} is not supported.", 70003
        )

    # -- Graph ------------------------------------------------------------------------------
    def gate(request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in state.tokens:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        with state.lock:
            if state.throttle > 0:
                state.throttle -= 1
                return _graph_error(
                    429,
                    "TooManyRequests",
                    "Too many requests from the application.",
                    {"Retry-After": "0"},
                )
        return None

    @app.get("/v1.0/me")
    async def me(request: Request):
        return gate(request) or state.user

    @app.get("/v1.0/me/calendarView")
    async def calendar_view(request: Request):
        if refused := gate(request):
            return refused
        q = request.query_params
        state.calendar_calls += 1
        if not q.get("startDateTime") or not q.get("endDateTime"):
            return _graph_error(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
            )
        first = moment(q["startDateTime"]).replace(tzinfo=None)
        last = moment(q["endDateTime"]).replace(tzinfo=None)
        found = [
            e
            for e in sorted(state.events, key=lambda e: e["start"]["dateTime"])
            if datetime.fromisoformat(e["start"]["dateTime"]) < last
            and datetime.fromisoformat(e["end"]["dateTime"]) > first
        ]
        return _paged(request, found, state.page_size_cap)

    @app.get("/v1.0/me/onlineMeetings")
    async def online_meetings(request: Request):
        if refused := gate(request):
            return refused
        wanted = request.query_params.get("$filter") or ""
        prefix = "JoinWebUrl eq '"
        if not wanted.startswith(prefix) or not wanted.endswith("'"):
            return _graph_error(
                400,
                "BadRequest",
                "Filter expression expected - /onlineMeetings?$filter={ParameterName} eq '{id}'.",
            )
        url = wanted[len(prefix) : -1].replace("''", "'")
        return {"value": [m for m in state.meetings.values() if m["joinWebUrl"] == url]}

    def _items(meeting_id: str, kind: str) -> list[dict] | None:
        table = {"recordings": state.recordings, "transcripts": state.transcripts}[kind]
        return table.get(meeting_id)

    @app.get("/v1.0/me/onlineMeetings/{meeting_id}/attendanceReports")
    async def reports(request: Request, meeting_id: str):
        if refused := gate(request):
            return refused
        if meeting_id not in state.reports:
            return _graph_error(404, "NotFound", "The meeting was not found.")
        listed = [
            {k: v for k, v in r.items() if k != "attendanceRecords"}
            for r in state.reports[meeting_id]
        ]
        return _paged(request, listed, state.page_size_cap)

    @app.get("/v1.0/me/onlineMeetings/{meeting_id}/attendanceReports/{report_id}")
    async def report(request: Request, meeting_id: str, report_id: str):
        if refused := gate(request):
            return refused
        for r in state.reports.get(meeting_id) or []:
            if r["id"] == report_id:
                if request.query_params.get("$expand") == "attendanceRecords":
                    return r
                return {k: v for k, v in r.items() if k != "attendanceRecords"}
        return _graph_error(404, "NotFound", "The attendance report was not found.")

    @app.get("/v1.0/me/onlineMeetings/{meeting_id}/{kind}")
    async def artifacts(request: Request, meeting_id: str, kind: str):
        if refused := gate(request):
            return refused
        items = _items(meeting_id, kind) if kind in ("recordings", "transcripts") else None
        if items is None:
            return _graph_error(404, "NotFound", "The meeting was not found.")
        return _paged(request, items, state.page_size_cap)

    @app.get("/v1.0/me/onlineMeetings/{meeting_id}/{kind}/{item_id}/content")
    async def content(request: Request, meeting_id: str, kind: str, item_id: str):
        if refused := gate(request):
            return refused
        items = _items(meeting_id, kind) if kind in ("recordings", "transcripts") else None
        if not items or not any(i["id"] == item_id for i in items):
            return _graph_error(404, "NotFound", "The item was not found.")
        media = "video/mp4"
        if kind == "transcripts":
            if request.query_params.get("$format") != "text/vtt":
                return _graph_error(400, "BadRequest", "Invalid format ''.")
            media = "text/vtt"
        return ranged(request, item_id, state.content[item_id], media, state)

    return app


class FakeGraph:
    """The app served twice on free loopback ports: ``url`` (http, Graph) and
    ``authority_url`` (https with a ``trustme`` certificate, the identity platform);
    ``ca_path`` is the certificate authority to trust. Graph's paths are checked against
    Graph's metadata (``spec``)."""

    def __init__(self, ca_path) -> None:
        import trustme

        self.state = GraphState()
        # Graph's own paths checked against its CSDL; the identity platform is outside it.
        self.spec = app = SpecCheck(make_app(self.state), "msgraph", inside=("/v1.0/",))
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(ca_path))
        self.ca_path = ca_path
        self.graph = LoopbackApp(app, log_level="critical")
        self.identity = LoopbackApp(app, log_level="critical", tls=ca)

    def __enter__(self) -> Self:
        self.graph.__enter__()
        self.identity.__enter__()
        self.url, self.authority_url = self.graph.url, self.identity.url
        self.reset()
        return self

    def __exit__(self, *exc) -> None:
        self.identity.__exit__(*exc)
        self.graph.__exit__(*exc)

    def reset(self) -> GraphState:
        self.state.__init__()
        self.state.base, self.state.authority_base = self.url, self.authority_url
        return self.state
