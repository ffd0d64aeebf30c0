"""Typed errors. Library code raises these; the CLI maps them to exit codes.

Exit codes (see ARCHITECTURE.md): 0 success; 1 failure; 2 usage error;
3 invalid input; 4 not authenticated / not allowed; 5 not found;
6 server or network unavailable; 7 partially applied (some rows of a bulk change went
through, others did not: the report says which); 130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_AUTH = 4
EXIT_NOT_FOUND = 5
EXIT_UNAVAILABLE = 6
EXIT_PARTIAL = 7
EXIT_INTERRUPTED = 130


class QylonError(Exception):
    """Base error: a snake_case ``code``, a message for people and a hint."""

    exit_code = EXIT_FAILURE
    code = "failure"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code:
            self.code = code

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class UsageError(QylonError):
    exit_code = EXIT_USAGE
    code = "usage_error"


class InvalidInput(QylonError):
    exit_code = EXIT_INVALID
    code = "invalid_input"


class NotAuthenticated(QylonError):
    exit_code = EXIT_AUTH
    code = "not_authenticated"


class NotAllowed(QylonError):
    exit_code = EXIT_AUTH
    code = "not_allowed"


class NotFound(QylonError):
    exit_code = EXIT_NOT_FOUND
    code = "not_found"


class Unavailable(QylonError):
    exit_code = EXIT_UNAVAILABLE
    code = "unavailable"


class Interrupted(QylonError):
    exit_code = EXIT_INTERRUPTED
    code = "interrupted"


class PartialFailure(QylonError):
    """Some items of a batch went through and some did not (exit 7); ``details`` (the
    batch's report, item by item) goes into the JSON error."""

    exit_code = EXIT_PARTIAL
    code = "partially_applied"

    def __init__(self, message: str, *, hint: str | None = None, details: dict | None = None):
        super().__init__(message, hint=hint)
        self.details = details or {}

    def to_dict(self) -> dict:
        return {**super().to_dict(), **self.details}


class MissingPart(QylonError):
    """A command needs a part (extra) that is not installed."""

    exit_code = EXIT_FAILURE
    code = "missing_part"

    def __init__(self, part: str, what: str):
        super().__init__(
            f"{what} needs the Qylon {part} part, which is not installed.",
            hint=f"Install it with: pip install 'qylon[{part}]'",
        )


# -- HTTP status <-> error: the one table for the team server's client and the agent's
# control API (both ends). ---------------------------------------------------------------

_STATUS_FOR_EXIT = {
    EXIT_FAILURE: 500,
    EXIT_USAGE: 400,
    EXIT_INVALID: 422,
    EXIT_AUTH: 403,
    EXIT_NOT_FOUND: 404,
    EXIT_UNAVAILABLE: 503,
}
_ERROR_FOR_STATUS: dict[int, type[QylonError]] = {
    401: NotAuthenticated,
    403: NotAllowed,
    404: NotFound,
    429: Unavailable,
    503: Unavailable,
}


def http_status(error: QylonError) -> int:
    """The HTTP status that answers ``error``."""
    return _STATUS_FOR_EXIT.get(error.exit_code, 500)


def from_status(
    status: int,
    message: str,
    *,
    hint: str | None = None,
    code: str | None = None,
    server_error: type[QylonError] = Unavailable,
) -> QylonError:
    """The error for an HTTP error answer: 401 not authenticated, 403 not allowed, 404 not
    found, 429 and 503 unavailable, other 5xx ``server_error``, other 4xx invalid input."""
    cls = _ERROR_FOR_STATUS.get(status) or (server_error if status >= 500 else InvalidInput)
    return cls(message, hint=hint, code=code)
