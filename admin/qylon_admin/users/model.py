"""The normalised shape of a user row, a row error and a plan item (pydantic)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Qylon's user fields, in the order the writer puts them.
FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "display_name",
    "role",
    "team",
    "groups",
    "manager",
    "title",
    "department",
    "location",
    "start_date",
    "phone",
    "time_zone",
    "status",
)
ROLES: tuple[str, ...] = ("owner", "admin", "manager", "member")
STATUSES: tuple[str, ...] = ("active", "suspended")
MODES: tuple[str, ...] = ("upsert", "create-only", "sync")

Action = Literal["create", "update", "unchanged", "skip", "deactivate", "error"]


class UserRow(BaseModel):
    """One user as Qylon holds it. ``None`` means "not given": an update leaves it alone."""

    model_config = ConfigDict(extra="ignore")

    email: str = Field(description="Normalised (lower-case) email; the key.")
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    role: Literal["owner", "admin", "manager", "member"] | None = None
    team: str | None = None
    groups: list[str] | None = None
    manager: str | None = Field(None, description="The manager's normalised email.")
    title: str | None = None
    department: str | None = None
    location: str | None = None
    start_date: date | None = None
    phone: str | None = Field(None, description="E.164, e.g. +447700900123.")
    time_zone: str | None = Field(None, description="IANA, e.g. Europe/London.")
    status: Literal["active", "suspended"] | None = None
    attributes: dict[str, str] = Field(default_factory=dict, description="From attr:NAME columns.")


class RowError(BaseModel):
    """A problem with one row (or with the file when ``row`` is None)."""

    row: int | None = Field(
        description="As a spreadsheet counts it: the header is row 1 (2 under Entra's version line)."
    )
    column: str | None = Field(None, description="The column's name as written in the file.")
    field: str | None = None
    code: str = Field(description="snake_case kind, e.g. email_invalid, manager_cycle.")
    message: str
    value: str | None = Field(None, description="The value; emails and phones masked.")

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        if self.column:
            where += f", column {self.column!r}"
        shown = f" (value: {self.value})" if self.value not in (None, "") else ""
        return f"{where}: {self.message}{shown}"


class PlanItem(BaseModel):
    """What will happen to one user."""

    action: Action
    email: str
    row: int | None = Field(None, description="The file row; None for deactivations.")
    changes: dict[str, dict] = Field(
        default_factory=dict, description='For updates: field -> {"from": old, "to": new}.'
    )
    user: UserRow | None = Field(None, description="For creates and updates: the row's values.")
    reason: str | None = None
    errors: list[str] = Field(default_factory=list)
