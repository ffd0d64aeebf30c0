"""What provisioning answers with: an ``Outcome`` per user changed, ``Refused`` (or
``Duplicate``) for a change the rules do not allow (``provisioning.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import User


class Refused(Exception):
    """A change the rules do not allow; ``status`` is the HTTP status to answer with."""

    def __init__(
        self, message: str, *, code: str = "conflict", status: int = 409, hint: str | None = None
    ):
        super().__init__(message)
        self.message, self.code, self.status, self.hint = message, code, status, hint


class Duplicate(Refused):
    """A unique value (email, external id, group name) is taken."""


@dataclass
class Outcome:
    user: User
    outcome: str  # created, updated, unchanged, deactivated, reactivated
    changed: list[str] = field(default_factory=list)


def _clean(value):
    if isinstance(value, str):
        return value.strip() or None
    return value
