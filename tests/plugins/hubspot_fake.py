"""A stateful HubSpot on loopback: an ASGI app (FastAPI) under uvicorn, speaking the paths,
payloads, error bodies, paging and rate limits of HubSpot's public API for what Qylon uses.

- CRM v3 objects (contacts, companies, notes, tasks): create with associations
  (``SimplePublicObjectInputForCreate``), PATCH, GET, and ``POST .../search`` with
  ``filterGroups`` (``EQ``, ``IN``), ``query``, ``limit`` and the ``after`` cursor.
- CRM v4 associations of an object (``GET /crm/v4/objects/{type}/{id}/associations/{to}``).
- Owners (``GET /crm/v3/owners``, paged), account info (``GET /account-info/v3/details``).
- OAuth: a consent page stand-in (``GET /oauth/authorize`` redirects with a code) and the
  token endpoint (``POST /oauth/v1/token``: authorization_code with PKCE S256, refresh_token).
- Errors as HubSpot writes them: ``{"status": "error", "message", "correlationId",
  "category"}``; 429 with ``Retry-After`` while ``throttle`` says so.

Shapes follow HubSpot's published OpenAPI documents (HubSpot-public-api-spec-collection);
those documents are HubSpot's proprietary files, so they are not copied here: the fake is
checked against the models of HubSpot's Apache-2.0 client generated from them
(specs/hubspot, vendor_spec.py).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import threading
import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .loopback import Invalid, LoopbackApp, number
from .vendor_spec import SpecCheck

# Association type ids HubSpot defines, by (from, to).
TYPE_IDS = {
    ("notes", "contacts"): 202,
    ("notes", "companies"): 190,
    ("tasks", "contacts"): 204,
    ("tasks", "companies"): 192,
}
OBJECTS = ("contacts", "companies", "notes", "tasks")
REQUIRED = {"notes": ("hs_timestamp",), "tasks": ("hs_timestamp",)}
TASK_STATUSES = {"NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubSpotState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(1001)
        self.objects: dict[str, dict[str, dict]] = {kind: {} for kind in OBJECTS}
        self.associations: list[tuple[str, str, str, str, int]] = []  # from, id, to, id, type
        self.owners: list[dict] = []
        self.tokens: set[str] = set()  # valid access tokens
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> client id
        self.codes: dict[str, dict] = {}
        self.client = {"id": "", "secret": ""}
        self.expires_in = 1800
        self.requests: list[tuple[str, str]] = []
        self.exchanges: list[dict] = []
        self.throttle_after: int | None = None  # answer 429 once this many CRM calls went by
        self.throttle_times = 0
        self.retry_after = "0.2"
        self.throttled = 0
        self.refused_subjects: set[str] = set()  # tasks with these subjects fail (400)
        self.token_calls: list[str] = []
        self.page_size = 100  # at most this many a page (tests make it small to page)

    def add(self, kind: str, properties: dict) -> str:
        oid = str(next(self.ids))
        stamp = _now()
        self.objects[kind][oid] = {
            "id": oid,
            "properties": {
                **properties,
                "hs_object_id": oid,
                "hs_createdate": stamp,
                "hs_lastmodifieddate": stamp,
            },
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }
        return oid

    def add_owner(self, email: str, first: str, last: str) -> str:
        oid = str(next(self.ids))
        stamp = _now()
        self.owners.append(
            {
                "id": oid,
                "email": email,
                "firstName": first,
                "lastName": last,
                "userId": int(oid) + 5000,
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
                "type": "PERSON",
            }
        )
        return oid

    def throttle(self, *, after: int, times: int = 1, retry_after: str = "0.2") -> None:
        self.throttle_after, self.throttle_times, self.retry_after = after, times, retry_after

    def linked(self, kind: str, to_kind: str, to_id: str) -> list[dict]:
        """The ``kind`` objects associated to one object."""
        ids = [
            f for (fk, f, tk, t, _) in self.associations if (fk, tk, t) == (kind, to_kind, to_id)
        ]
        return [self.objects[kind][i] for i in ids]


def error(status: int, message: str, category: str, headers: dict | None = None, **extra):
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _page(items: list, limit: int, after: str | None, link: str) -> dict:
    start = number(after, 0)
    page = {"results": items[start : start + limit]}
    if start + limit < len(items):
        nxt = str(start + limit)
        page["paging"] = {"next": {"after": nxt, "link": f"{link}?after={nxt}"}}
    return page


def _matches(obj: dict, groups: list[dict], query: str | None) -> bool:
    props = obj["properties"]
    if query and not any(query.lower() in str(v).lower() for v in props.values()):
        return False
    if not groups:
        return True
    for group in groups:  # groups are ORed, the filters in a group ANDed
        ok = True
        for f in group.get("filters", []):
            value = str(props.get(f["propertyName"]) or "").lower()
            if f["operator"] == "EQ":
                ok &= value == str(f.get("value", "")).lower()
            elif f["operator"] == "IN":
                ok &= value in {str(v).lower() for v in f.get("values", [])}
            else:
                raise ValueError(f"operator {f['operator']} not in the fake")
        if ok:
            return True
    return False


def make_app(state: HubSpotState):
    app = FastAPI()

    @app.exception_handler(Invalid)
    async def invalid(_request, exc: Invalid):
        return error(400, str(exc), "VALIDATION_ERROR")

    @app.middleware("http")
    async def record(request: Request, call_next):
        """Every exchange, kept whole (``state.exchanges``) for the tests to look at."""
        sent = await request.body()
        answer = await gate(request, call_next)
        if hasattr(answer, "body_iterator"):  # the routes' answers (the gate's own have a body)
            body = b"".join([chunk async for chunk in answer.body_iterator])
        else:
            body = answer.body
        state.exchanges.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": str(request.url.query),
                "headers": dict(request.headers),
                "body": sent,
                "status": answer.status_code,
                "response": body,
                "response_headers": dict(answer.headers),
            }
        )
        return Response(body, status_code=answer.status_code, headers=dict(answer.headers))

    async def gate(request: Request, call_next):
        path = request.url.path
        state.requests.append((request.method, path))
        if path.startswith("/oauth/"):
            return await call_next(request)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in state.tokens:
            return error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                "INVALID_AUTHENTICATION",
            )
        with state.lock:
            if state.throttle_after is not None and path.startswith("/crm/"):
                if state.throttle_after > 0:
                    state.throttle_after -= 1
                elif state.throttle_times > 0:
                    state.throttle_times -= 1
                    state.throttled += 1
                    return error(
                        429,
                        "You have reached your secondly limit.",
                        "RATE_LIMITS",
                        headers={"Retry-After": state.retry_after},
                        errorType="RATE_LIMIT",
                        policyName="SECONDLY",
                    )
        return await call_next(request)

    @app.get("/account-info/v3/details")
    def account():
        return {
            "portalId": 4455667,
            "accountType": "STANDARD",
            "timeZone": "Europe/London",
            "companyCurrency": "EUR",
            "uiDomain": "app.hubspot.com",
            "dataHostingLocation": "eu1",
            "additionalCurrencies": [],
            "utcOffset": "+00:00",
            "utcOffsetMilliseconds": 0,
        }

    @app.get("/crm/v3/owners")
    @app.get("/crm/v3/owners/")
    def owners(limit: int = 100, after: str | None = None, email: str | None = None):
        found = [o for o in state.owners if not email or o["email"] == email]
        return _page(found, limit, after, "/crm/v3/owners")

    @app.post("/crm/v3/objects/{kind}/search")
    async def search(kind: str, request: Request):
        if kind not in OBJECTS:
            return error(404, f"Unable to infer object type from: {kind}", "OBJECT_NOT_FOUND")
        body = await request.json()
        limit = int(body.get("limit") or 10)
        if limit > 200:
            return error(400, "limit must be at most 200", "VALIDATION_ERROR")
        found = [
            o
            for o in state.objects[kind].values()
            if _matches(o, body.get("filterGroups") or [], body.get("query"))
        ]
        page = _page(found, limit, body.get("after"), f"/crm/v3/objects/{kind}/search")
        return {"total": len(found), **page}

    @app.post("/crm/v3/objects/{kind}", status_code=201)
    async def create(kind: str, request: Request):
        if kind not in OBJECTS:
            return error(404, f"Unable to infer object type from: {kind}", "OBJECT_NOT_FOUND")
        body = await request.json()
        props = body.get("properties")
        if not isinstance(props, dict) or not isinstance(body.get("associations", []), list):
            return error(400, "Invalid input JSON", "VALIDATION_ERROR")
        refused = _check(kind, props)
        if refused is not None:
            return refused
        links = []
        for association in body.get("associations", []):
            to_id = str(association["to"]["id"])
            for spec in association["types"]:
                to_kind = next(
                    (
                        t
                        for (f, t), n in TYPE_IDS.items()
                        if f == kind and n == spec["associationTypeId"]
                    ),
                    None,
                )
                if spec["associationCategory"] != "HUBSPOT_DEFINED" or to_kind is None:
                    return error(400, "invalid association type", "VALIDATION_ERROR")
                if to_id not in state.objects[to_kind]:
                    return error(400, f"No {to_kind} with ID {to_id} exist", "VALIDATION_ERROR")
                links.append((to_kind, to_id, spec["associationTypeId"]))
        with state.lock:
            oid = state.add(kind, props)
            state.associations += [(kind, oid, t, i, n) for t, i, n in links]
        return state.objects[kind][oid]

    @app.get("/crm/v3/objects/{kind}")
    def list_objects(kind: str, limit: int = 10, after: str | None = None, properties: str = ""):
        """A page of objects (``limit`` at most 100, as HubSpot's basic list has it), with
        only the properties asked for (and the ``hs_`` ones HubSpot always returns)."""
        if kind not in OBJECTS:
            return error(404, f"Unable to infer object type from: {kind}", "OBJECT_NOT_FOUND")
        if limit > 100:
            return error(400, "limit must be at most 100", "VALIDATION_ERROR")
        wanted = {p for p in properties.split(",") if p}
        found = [
            {
                **o,
                "properties": {
                    k: v for k, v in o["properties"].items() if k in wanted or k.startswith("hs_")
                },
            }
            for o in state.objects[kind].values()
        ]
        return _page(found, min(limit, state.page_size), after, f"/crm/v3/objects/{kind}")

    @app.get("/crm/v3/objects/{kind}/{oid}")
    def read(kind: str, oid: str):
        if oid not in state.objects.get(kind, {}):
            return error(404, "resource not found", "OBJECT_NOT_FOUND")
        return state.objects[kind][oid]

    @app.patch("/crm/v3/objects/{kind}/{oid}")
    async def update(kind: str, oid: str, request: Request):
        if oid not in state.objects.get(kind, {}):
            return error(404, "resource not found", "OBJECT_NOT_FOUND")
        props = (await request.json()).get("properties")
        if not isinstance(props, dict):
            return error(400, "Invalid input JSON", "VALIDATION_ERROR")
        refused = _check(kind, props, update=True)
        if refused is not None:
            return refused
        obj = state.objects[kind][oid]
        stamp = _now()
        obj["properties"].update(props, hs_lastmodifieddate=stamp)
        obj["updatedAt"] = stamp
        return obj

    @app.delete("/crm/v3/objects/{kind}/{oid}", status_code=204)
    def archive(kind: str, oid: str):
        """HubSpot's delete (archive): 204, and 204 again for one already gone."""
        with state.lock:
            state.objects.get(kind, {}).pop(oid, None)
            state.associations = [a for a in state.associations if a[1] != oid]
        return Response(status_code=204)

    @app.get("/crm/v4/objects/{kind}/{oid}/associations/{to_kind}")
    def associations(kind: str, oid: str, to_kind: str):
        results = [
            {
                "toObjectId": int(t),
                "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": n, "label": None}],
            }
            for (f, i, tk, t, n) in state.associations
            if (f, i, tk) == (kind, oid, to_kind)
        ]
        return {"results": results}

    def _check(kind: str, props: dict, *, update: bool = False):
        if not all(isinstance(v, str) for v in props.values()):
            return error(400, "Property values must be strings", "VALIDATION_ERROR")
        missing = [] if update else [p for p in REQUIRED.get(kind, ()) if not props.get(p)]
        if missing:
            return error(400, f"Missing required properties: {missing}", "VALIDATION_ERROR")
        if kind == "tasks":
            if props.get("hs_task_subject") in state.refused_subjects:
                return error(400, "Property values were not valid", "VALIDATION_ERROR")
            if "hs_task_status" in props and props["hs_task_status"] not in TASK_STATUSES:
                return error(
                    400, "hs_task_status was not one of the allowed options", "VALIDATION_ERROR"
                )
            owner = props.get("hubspot_owner_id")
            if owner and owner not in {o["id"] for o in state.owners}:
                return error(400, f"{owner} is not a valid owner id", "VALIDATION_ERROR")
        return None

    # -- OAuth ---------------------------------------------------------------------------
    @app.get("/oauth/authorize")
    def authorize(request: Request):
        q = request.query_params
        redirect_uri, given = q["redirect_uri"], q.get("state", "")
        if q.get("client_id") != state.client["id"] or q.get("response_type") != "code":
            return RedirectResponse(f"{redirect_uri}?error=invalid_client&state={given}")
        code = secrets.token_urlsafe(12)
        state.codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": q.get("code_challenge"),
            "method": q.get("code_challenge_method"),
        }
        return RedirectResponse(f"{redirect_uri}?code={code}&state={given}")

    @app.post("/oauth/v1/token")
    async def token(request: Request):
        form = dict(await request.form())
        state.token_calls.append(form.get("grant_type", ""))
        if (form.get("client_id"), form.get("client_secret")) != (
            state.client["id"],
            state.client["secret"],
        ):
            return JSONResponse(
                {
                    "status": "BAD_CLIENT_ID",
                    "message": "missing or invalid client",
                    "correlationId": str(uuid.uuid4()),
                },
                status_code=400,
            )
        if form.get("grant_type") == "authorization_code":
            grant = state.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
                b"="
            )
            if (
                grant is None
                or grant["redirect_uri"] != form.get("redirect_uri")
                or grant["method"] != "S256"
                or digest.decode() != grant["challenge"]
            ):
                return JSONResponse(
                    {
                        "status": "BAD_AUTH_CODE",
                        "message": "missing or unknown auth code",
                        "correlationId": str(uuid.uuid4()),
                    },
                    status_code=400,
                )
        elif form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in state.refresh_tokens:
                return JSONResponse(
                    {
                        "status": "BAD_REFRESH_TOKEN",
                        "message": "missing or unknown refresh token",
                        "correlationId": str(uuid.uuid4()),
                    },
                    status_code=400,
                )
        else:
            return JSONResponse(
                {
                    "status": "BAD_GRANT_TYPE",
                    "message": "unsupported grant_type",
                    "correlationId": str(uuid.uuid4()),
                },
                status_code=400,
            )
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        state.tokens.add(access)
        state.refresh_tokens[refresh] = state.client["id"]
        return {
            "token_type": "bearer",
            "token_use": "access_token",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": state.expires_in,
            "hub_id": 4455667,
            "user_id": 9001,
            "scopes": form.get("scope", "oauth").split(),
        }

    return app


class FakeHubSpot(LoopbackApp):
    """The app under uvicorn in a thread, on a free loopback port, behind the checks
    against HubSpot's description (specs/hubspot: the consent page and account info are
    outside it)."""

    def __init__(self) -> None:
        self.state = HubSpotState()
        self.spec = SpecCheck(
            make_app(self.state), "hubspot", outside=("/oauth/authorize", "/account-info/")
        )
        super().__init__(self.spec)

    def reset(self) -> HubSpotState:
        self.state.__init__()
        return self.state
