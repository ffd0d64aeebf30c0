"""A stateful Salesforce on loopback: an ASGI app (FastAPI) under uvicorn, speaking the
paths, payloads, error bodies, paging and limits of Salesforce's REST API for what Qylon uses.

- ``GET /services/data/vXX.X/query?q=SOQL``: the subset of SOQL Qylon sends (soql.py),
  answered ``{"totalSize", "done", "records": [{"attributes": {"type", "url"}, ...}],
  "nextRecordsUrl"}``, in batches of
  ``state.batch`` records, the rest behind ``GET /services/data/vXX.X/query/<locator>``.
- sObject rows (``Account``, ``Contact``, ``User``, ``Task``, ``ContentNote``,
  ``ContentDocumentLink``): ``POST .../sobjects/T/`` (201 ``{"id", "success", "errors"}``),
  ``PATCH``/``GET``/``DELETE .../sobjects/T/ID`` (204 for PATCH and DELETE); references
  (``WhoId``, ``WhatId``, ``OwnerId``, ...) and picklists checked.
- Errors as Salesforce writes them: ``[{"message", "errorCode", "fields"?}]``; 401
  ``INVALID_SESSION_ID``; 403 ``REQUEST_LIMIT_EXCEEDED`` (concurrent requests, or the
  daily ``TotalRequests``) or 429 with ``Retry-After`` while ``throttle`` says so.
- OAuth 2.0 (``/services/oauth2/authorize`` and ``/services/oauth2/token``): authorization
  code with PKCE S256, refresh token, and the device flow (``response_type=device_code``,
  then ``grant_type=device`` polled until approved). The token answer has Salesforce's
  fields, the ``instance_url`` being this server.

Shapes follow Salesforce's REST API Developer Guide and its OAuth documentation
(help.salesforce.com, "OAuth 2.0 Device Flow for IoT Integration", "Web Server Flow").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import re
import secrets
import threading
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .loopback import LoopbackApp
from .soql import SoqlError, run_soql

PREFIX = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Task": "00T",
    "ContentNote": "069",
    "ContentDocumentLink": "06A",
}
FIELDS = {
    "Account": {"Id", "Name", "Website"},
    "Contact": {"Id", "Name", "FirstName", "LastName", "Email", "AccountId"},
    "User": {"Id", "Name", "FirstName", "LastName", "Email", "IsActive"},
    "Task": {
        "Id",
        "Subject",
        "ActivityDate",
        "Status",
        "Priority",
        "Description",
        "WhoId",
        "WhatId",
        "OwnerId",
    },
    "ContentNote": {"Id", "Title", "Content"},
    "ContentDocumentLink": {"Id", "ContentDocumentId", "LinkedEntityId", "ShareType"},
}
REFERENCES = {
    "WhoId": ("Contact",),
    "WhatId": ("Account",),
    "OwnerId": ("User",),
    "AccountId": ("Account",),
    "ContentDocumentId": ("ContentNote",),
    "LinkedEntityId": ("Account", "Contact", "User"),
}
PICKLISTS = {
    ("Task", "Status"): {
        "Not Started",
        "In Progress",
        "Completed",
        "Waiting on someone else",
        "Deferred",
    },
    ("Task", "Priority"): {"High", "Normal", "Low"},
    ("ContentDocumentLink", "ShareType"): {"V", "C", "I"},
}
REQUIRED = {
    "ContentNote": ("Title",),
    "ContentDocumentLink": ("ContentDocumentId", "LinkedEntityId"),
    "Account": ("Name",),
}


def error(status: int, message: str, code: str, fields: list | None = None, headers=None):
    body = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse([body], status_code=status, headers=headers)


class SalesforceState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.records: dict[str, dict[str, dict]] = {kind: {} for kind in PREFIX}
        self.batch = 2000  # records per query page (Salesforce's default batch size)
        self.cursors: dict[str, list[dict]] = {}
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.codes: dict[str, dict] = {}
        self.devices: dict[str, dict] = {}  # device code -> {"user_code", "approved", "polls"}
        self.approve_after = 2  # device codes are approved after this many polls
        self.slow_downs = 0  # this many polls are answered slow_down first
        self.client = {"id": "", "secret": None}
        self.token_calls: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.throttle_after: int | None = None
        self.throttle_times = 0
        self.throttle_kind = "concurrent"  # or "daily", or "429"
        self.throttled = 0
        self.refused_subjects: set[str] = set()
        self.version = "62.0"

    def new_id(self, kind: str) -> str:
        return f"{PREFIX[kind]}Qy{next(self.counter):010d}AAA"

    def add(self, kind: str, **fields) -> str:
        rid = self.new_id(kind)
        if kind in ("Contact", "User") and "Name" not in fields:
            fields["Name"] = " ".join(
                p for p in (fields.get("FirstName"), fields.get("LastName")) if p
            )
        if kind == "User":
            fields.setdefault("IsActive", True)
        self.records[kind][rid] = {"Id": rid, **fields}
        return rid

    def find(self, rid: str) -> tuple[str, dict] | None:
        for kind, rows in self.records.items():
            if rid in rows:
                return kind, rows[rid]
        return None

    def throttle(self, *, after: int, times: int = 1, kind: str = "concurrent") -> None:
        self.throttle_after, self.throttle_times, self.throttle_kind = after, times, kind

    def where(self, kind: str, **equal) -> list[dict]:
        return [
            r for r in self.records[kind].values() if all(r.get(k) == v for k, v in equal.items())
        ]


def make_app(state: SalesforceState):
    app = FastAPI()
    data = "/services/data/v{version}"

    @app.middleware("http")
    async def gate(request: Request, call_next):
        path = request.url.path
        state.requests.append((request.method, path))
        if path.startswith("/services/oauth2/"):
            return await call_next(request)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in state.tokens:
            return error(401, "Session expired or invalid", "INVALID_SESSION_ID")
        with state.lock:
            if state.throttle_after is not None:
                if state.throttle_after > 0:
                    state.throttle_after -= 1
                elif state.throttle_times > 0:
                    state.throttle_times -= 1
                    state.throttled += 1
                    if state.throttle_kind == "429":
                        return error(
                            429,
                            "Too many requests",
                            "REQUEST_LIMIT_EXCEEDED",
                            headers={"Retry-After": "0.1"},
                        )
                    what = (
                        "TotalRequests"
                        if state.throttle_kind == "daily"
                        else "ConcurrentPerOrgLongTxn"
                    )
                    return error(403, f"{what} Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")
        return await call_next(request)

    @app.get(data + "/")
    def resources(version: str):
        base = f"/services/data/v{version}"
        return {
            "sobjects": f"{base}/sobjects",
            "query": f"{base}/query",
            "limits": f"{base}/limits",
        }

    def _page(rows: list[dict], version: str) -> dict:
        page = {"totalSize": len(rows), "done": True, "records": rows[: state.batch]}
        if len(rows) > state.batch:
            locator = f"01g{secrets.token_hex(6)}"
            state.cursors[locator] = rows
            page["done"] = False
            page["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{state.batch}"
        return page

    @app.get(data + "/query")
    def query(version: str, q: str = ""):
        try:
            rows = run_soql(q, state.records, FIELDS, version=version)
        except SoqlError as exc:
            return error(400, str(exc), exc.code)
        return _page(rows, version)

    @app.get(data + "/query/{cursor}")
    def more(version: str, cursor: str):
        locator, _, offset = cursor.rpartition("-")
        rows = state.cursors.get(locator)
        if rows is None or not offset.isdigit():
            return error(400, "invalid query locator", "INVALID_QUERY_LOCATOR")
        start = int(offset)
        page = {"totalSize": len(rows), "done": True, "records": rows[start : start + state.batch]}
        if start + state.batch < len(rows):
            page["done"] = False
            page["nextRecordsUrl"] = (
                f"/services/data/v{version}/query/{locator}-{start + state.batch}"
            )
        return page

    def _check(kind: str, fields: dict, *, update: bool = False):
        for name, value in fields.items():
            if name not in FIELDS[kind] or name == "Id":
                return error(
                    400, f"No such column '{name}' on sobject of type {kind}", "INVALID_FIELD"
                )
            allowed = PICKLISTS.get((kind, name))
            if allowed and value not in allowed:
                return error(
                    400,
                    f"bad value for restricted picklist field: {value}",
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    [name],
                )
            if name in REFERENCES and value:
                found = state.find(value)
                if found is None or found[0] not in REFERENCES[name]:
                    return error(
                        400,
                        f"{name}: id value of incorrect type: {value}",
                        "FIELD_INTEGRITY_EXCEPTION",
                        [name],
                    )
            if name == "ActivityDate" and value and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                return error(
                    400,
                    f"Cannot deserialize instance of date from VALUE_STRING value {value}",
                    "JSON_PARSER_ERROR",
                )
            if name == "Content":
                try:
                    base64.b64decode(value, validate=True)
                except (binascii.Error, TypeError):
                    return error(400, "Content: not valid base64", "INVALID_FIELD")
        missing = [] if update else [f for f in REQUIRED.get(kind, ()) if not fields.get(f)]
        if missing:
            return error(
                400, f"Required fields are missing: {missing}", "REQUIRED_FIELD_MISSING", missing
            )
        if kind == "Task" and fields.get("Subject") in state.refused_subjects:
            return error(
                400, "The subject is not allowed here.", "FIELD_CUSTOM_VALIDATION_EXCEPTION", []
            )
        return None

    @app.post(data + "/sobjects/{kind}/", status_code=201)
    async def create(version: str, kind: str, request: Request):
        if kind not in FIELDS:
            return error(404, "The requested resource does not exist", "NOT_FOUND")
        fields = await request.json()
        refused = _check(kind, fields)
        if refused is not None:
            return refused
        with state.lock:
            if kind == "Task":
                fields.setdefault("Status", "Not Started")
                fields.setdefault("OwnerId", state.me)
            rid = state.add(kind, **fields)
        return {"id": rid, "success": True, "errors": []}

    @app.get(data + "/sobjects/{kind}/{rid}")
    def read(version: str, kind: str, rid: str):
        row = state.records.get(kind, {}).get(rid)
        if row is None:
            return error(404, "The requested resource does not exist", "NOT_FOUND")
        return {
            "attributes": {"type": kind, "url": f"/services/data/v{version}/sobjects/{kind}/{rid}"},
            **row,
        }

    @app.patch(data + "/sobjects/{kind}/{rid}")
    async def update(version: str, kind: str, rid: str, request: Request):
        row = state.records.get(kind, {}).get(rid)
        if row is None:
            return error(404, "The requested resource does not exist", "NOT_FOUND")
        fields = await request.json()
        refused = _check(kind, fields, update=True)
        if refused is not None:
            return refused
        row.update(fields)
        return Response(status_code=204)

    @app.delete(data + "/sobjects/{kind}/{rid}")
    def delete(version: str, kind: str, rid: str):
        with state.lock:
            if state.records.get(kind, {}).pop(rid, None) is None:
                return error(404, "entity is deleted", "ENTITY_IS_DELETED")
            if kind == "ContentNote":  # a document's links go with it
                links = state.records["ContentDocumentLink"]
                for lid in [i for i, r in links.items() if r["ContentDocumentId"] == rid]:
                    del links[lid]
        return Response(status_code=204)

    # -- OAuth ---------------------------------------------------------------------------
    def oauth_error(code: str, description: str, status: int = 400):
        return JSONResponse({"error": code, "error_description": description}, status_code=status)

    @app.get("/services/oauth2/authorize")
    def authorize(request: Request):
        q = request.query_params
        redirect_uri, given = q["redirect_uri"], q.get("state", "")
        if q.get("client_id") != state.client["id"] or q.get("response_type") != "code":
            return RedirectResponse(f"{redirect_uri}?error=invalid_client_id&state={given}")
        code = secrets.token_urlsafe(12)
        state.codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": q.get("code_challenge"),
            "method": q.get("code_challenge_method"),
        }
        return RedirectResponse(f"{redirect_uri}?code={code}&state={given}")

    def tokens(request: Request, *, refresh: bool = True) -> dict:
        base = str(request.base_url).rstrip("/")
        access = f"00DQy000000001!{secrets.token_urlsafe(24)}"
        state.tokens.add(access)
        answer = {
            "access_token": access,
            "signature": secrets.token_urlsafe(16),
            "scope": "api refresh_token",
            "instance_url": base,
            "id": f"{base}/id/00DQy0000000001AAA/{state.me}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
        }
        if refresh:
            answer["refresh_token"] = f"5Aep{secrets.token_urlsafe(24)}"
            state.refresh_tokens.add(answer["refresh_token"])
        return answer

    @app.post("/services/oauth2/token")
    async def token(request: Request):
        form = dict(await request.form())
        grant = form.get("grant_type") or form.get("response_type", "")
        state.token_calls.append(grant)
        if form.get("client_id") != state.client["id"]:
            return oauth_error("invalid_client_id", "client identifier invalid")
        needs_secret = state.client["secret"] and grant not in ("device", "device_code")
        if needs_secret and form.get("client_secret") != state.client["secret"]:
            return oauth_error("invalid_client", "invalid client credentials")
        if grant == "device_code":
            code = secrets.token_urlsafe(16)
            user_code = secrets.token_hex(4).upper()
            state.devices[code] = {"user_code": user_code, "polls": 0}
            base = str(request.base_url).rstrip("/")
            return {
                "device_code": code,
                "user_code": user_code,
                "verification_uri": f"{base}/setup/connect",
                "interval": 0,
            }
        if grant == "device":
            device = state.devices.get(form.get("code", ""))
            if device is None:
                return oauth_error("invalid_grant", "invalid device code")
            device["polls"] += 1
            if state.slow_downs > 0:
                state.slow_downs -= 1
                return oauth_error("slow_down", "polling too fast")
            if device["polls"] <= state.approve_after:
                return oauth_error("authorization_pending", "authorization pending")
            del state.devices[form["code"]]
            return tokens(request)
        if grant == "authorization_code":
            given = state.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if (
                given is None
                or given["redirect_uri"] != form.get("redirect_uri")
                or given["method"] != "S256"
                or digest.rstrip(b"=").decode() != given["challenge"]
            ):
                return oauth_error("invalid_grant", "authentication failure")
            return tokens(request)
        if grant == "refresh_token":
            if form.get("refresh_token") not in state.refresh_tokens:
                return oauth_error("invalid_grant", "expired access/refresh token")
            return tokens(request, refresh=False)
        return oauth_error("unsupported_grant_type", "grant type not supported")

    return app


class FakeSalesforce(LoopbackApp):
    """The app under uvicorn in a thread, on a free loopback port."""

    def __init__(self) -> None:
        self.state = SalesforceState()
        super().__init__(make_app(self.state))

    def reset(self) -> SalesforceState:
        self.state.__init__()
        self.state.me = self.state.add(
            "User", FirstName="Api", LastName="User", Email="api@consult.example"
        )
        return self.state
