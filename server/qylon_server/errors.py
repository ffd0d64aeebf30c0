"""JSON errors with stable codes: ``{"error": {"code", "message", "hint"}}``."""

from __future__ import annotations

import logging

from eventsourcing.persistence import IntegrityError as EventStoreConflict
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from qylon_cli.schemas import ErrorBody

log = logging.getLogger("qylon_server")

CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "not_allowed",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def lost_race(exc: Exception) -> bool:
    """A transaction that lost to a concurrent one and may simply be run again: an event
    stream's version clash, a deadlock, a serialization failure, a lock wait timed out
    (``lock_timeout``: event appends) or SQLite's busy database."""
    if isinstance(exc, EventStoreConflict):
        return True
    return isinstance(exc, OperationalError) and (
        getattr(exc.orig, "sqlstate", None) in ("40P01", "40001", "55P03")
        or "database is locked" in str(exc.orig)
    )


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        headers=None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.hint = hint
        self.headers = headers or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found.")


def body(code: str, message: str, hint: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, "hint": hint}}


def respond(
    status: int, code: str, message: str, hint: str | None = None, headers=None
) -> JSONResponse:
    return JSONResponse(body(code, message, hint), status_code=status, headers=headers)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return respond(exc.status, exc.code, exc.message, exc.hint, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        problems = [f"{_field(e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:10]]
        return respond(422, "invalid_input", "Invalid request: " + "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        return respond(
            exc.status_code, CODES.get(exc.status_code, "error"), message, headers=exc.headers
        )

    @app.exception_handler(IntegrityError)
    async def _conflict(_request: Request, exc: IntegrityError):
        log.info("integrity error: %s", exc.orig)
        return respond(
            409,
            "conflict",
            "That conflicts with data already stored (a duplicate or a missing reference).",
        )

    @app.exception_handler(EventStoreConflict)
    async def _version_clash(_request: Request, exc: EventStoreConflict):
        log.info("event stream version clash: %s", exc)
        return respond(
            409,
            "version_conflict",
            "Another request changed the same thing at the same moment; nothing was changed.",
            "Read it again, then retry.",
            {"Retry-After": "1"},
        )

    @app.exception_handler(DataError)
    async def _bad_data(_request: Request, exc: DataError):
        log.info("data error: %s", exc.orig)
        return respond(
            422, "invalid_input", "A value cannot be stored as given (out of range or malformed)."
        )

    @app.exception_handler(OperationalError)
    async def _contended(_request: Request, exc: OperationalError):
        if lost_race(exc):
            log.info("transaction lost a race: %s", exc.orig)
            return respond(
                409,
                "try_again",
                "Another request changed the same data at the same moment; nothing was changed.",
                "Retry the request.",
                {"Retry-After": "1"},
            )
        log.exception("database error")
        return respond(
            503, "unavailable", "The database is unavailable.", "Retry later.", {"Retry-After": "5"}
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception):
        log.exception("unexpected error")
        return respond(
            500, "internal_error", "The server hit an unexpected error.", "See the server log."
        )


# Documented on every /v1 route so clients (and schemathesis) know the error shape.
ERROR_RESPONSES = {
    status: {"model": ErrorBody, "description": CODES[status]}
    for status in (401, 403, 404, 409, 413, 422, 429)
}
