"""The shared wire format: what crosses between agent, CLI and server.

Pydantic models. The server's OpenAPI document is generated from these. These
models carry no version themselves: where the server stores one as JSON (meeting
segments, SCIM extras, idempotent answers) it wraps it in a versioned envelope and
upcasts old rows when reading them (``qylon_server/payloads.py``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: the items, how many match in all, and the page asked for.
    Each list has a named subclass (``ClientPage(Page[Client])``) so the OpenAPI
    document keeps readable schema names."""

    items: list[T]
    total: int
    limit: int
    offset: int


def _email(value: str) -> str:
    from . import addresses

    return addresses.email(value.strip())


def _e164(value: str | None) -> str | None:
    from . import addresses

    return addresses.e164(value.strip()) if value and value.strip() else value


# One validation everywhere (email-validator; see addresses.py), lower-cased.
Email = Annotated[
    str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"), AfterValidator(_email)
]
Phone = Annotated[
    str | None,
    Field(
        None,
        max_length=16,
        pattern=r"^\+[1-9]\d{6,14}$",
        description="E.164: +, country code, digits.",
    ),
    AfterValidator(_e164),
]


def _zone(value: str | None) -> str | None:
    """An IANA time zone (Europe/London); empty is "none"."""
    if not value or not value.strip():
        return value
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone (e.g. Europe/London)") from None
    return value.strip()


TimeZone = Annotated[
    str | None,
    Field(None, max_length=64, description="IANA time zone, e.g. Europe/London."),
    AfterValidator(_zone),
]


class Word(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None = None


class Segment(BaseModel):
    start: float = Field(ge=0, description="Seconds from the start of the recording.")
    end: float = Field(ge=0)
    speaker: str | None = Field(None, description="Speaker label, e.g. SPEAKER_1, or a name.")
    text: str
    words: list[Word] = Field(default_factory=list, exclude=True)


class NameEvidence(BaseModel):
    kind: Literal["self", "addressed", "thanked"] = Field(
        description="An introduction, being addressed, or being thanked."
    )
    quote: str
    at: float = Field(description="Seconds into the meeting.")


class NameSuggestion(BaseModel):
    name: str
    confidence: float = Field(description="0-1, from the evidence in the conversation.")
    evidence: list[NameEvidence] = Field(default_factory=list)


class Speaker(BaseModel):
    id: str = Field(description="Label within the meeting, e.g. SPEAKER_1.")
    name: str | None = None
    talk_time_s: float = 0.0
    name_source: Literal["profile", "conversation", "participants", "user", "local"] | None = Field(
        None,
        description="Where the name came from: a voice profile, the conversation, the participant list (the one participant left for the one speaker left), the user, or the microphone (you).",
    )
    score: float | None = Field(
        None,
        description="For a profile's name, the voice similarity (0-1); for a name from the conversation, its confidence.",
    )
    suggestions: list[NameSuggestion] = Field(
        default_factory=list,
        description="Names the conversation points to, below the confidence needed to apply them.",
    )


class ActionItem(BaseModel):
    id: str
    owner: str | None = None
    task: str
    due: date | None = None
    status: Literal["open", "done"] = "open"
    quote: str | None = None
    start: float | None = None
    updated_at: datetime | None = Field(
        None,
        description="When its status last changed on the agent; the server keeps the newer of its own and this.",
    )


class Meeting(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    title: str
    client: str | None = None
    source: str | None = Field(None, description="The audio file the meeting came from.")
    created_at: datetime = Field(
        description="When the meeting took place (its recording's date, or one given)."
    )
    date_source: str | None = Field(
        None,
        description="Where created_at came from: given, recording (the file's tags), recorder, file_time or now.",
    )
    updated_at: datetime | None = Field(
        None,
        description="When the agent last changed the meeting: the server keeps the newest edit and refuses an older one.",
    )
    duration_s: float = 0.0
    language: str | None = None
    model: str | None = None
    speakers: list[Speaker] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    summary: str | None = None
    decisions: list[str] = Field(default_factory=list)


# -- the team server's resources (issue 6) --------------------------------------------

Role = Literal["owner", "admin", "manager", "member"]
Scope = Literal["read", "write", "admin", "scim", "transcribe"]


class ErrorDetail(BaseModel):
    code: str = Field(
        description="Stable, snake_case: not_authenticated, not_allowed, not_found, ..."
    )
    message: str
    hint: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    domain: str | None = Field(None, max_length=255)
    tags: list[str] = Field(default_factory=list, max_length=50)
    notes: str | None = Field(None, max_length=20000)


class ClientUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, pattern=r"\S")
    domain: str | None = Field(None, max_length=255)
    tags: list[str] | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=20000)


class Client(BaseModel):
    id: str
    name: str
    domain: str | None = None
    tags: list[str] = Field(default_factory=list)
    notes: str | None = None
    status: Literal["active", "archived"] = "active"
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


class ClientPage(Page[Client]):
    pass


class UserInvite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    given_name: str | None = Field(None, max_length=200)
    family_name: str | None = Field(None, max_length=200)
    display_name: str | None = Field(None, max_length=200)
    role: Role = "member"
    manager_id: str | None = None
    title: str | None = Field(None, max_length=200)
    department: str | None = Field(None, max_length=200)
    external_id: str | None = Field(None, max_length=255)


class User(BaseModel):
    id: str
    email: str
    given_name: str | None = None
    family_name: str | None = None
    display_name: str | None = None
    role: Role
    status: Literal["invited", "active", "deactivated"]
    manager_id: str | None = None
    title: str | None = None
    department: str | None = None
    external_id: str | None = None
    location: str | None = None
    start_date: str | None = None
    phone: str | None = None
    team: str | None = None
    groups: list[str] | None = None
    attributes: dict[str, str] | None = None
    time_zone: str | None = None
    created_at: datetime
    deactivated_at: datetime | None = None


class BulkUserFields(BaseModel):
    """A user's fields in a bulk item; a field left out (None) is left as it is."""

    model_config = ConfigDict(extra="forbid")

    given_name: str | None = Field(None, max_length=200)
    family_name: str | None = Field(None, max_length=200)
    display_name: str | None = Field(None, max_length=200)
    role: Role | None = None
    manager_email: str | None = Field(None, max_length=320, description="The manager, by email.")
    title: str | None = Field(None, max_length=200)
    department: str | None = Field(None, max_length=200)
    location: str | None = Field(None, max_length=200)
    start_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    phone: Phone = None
    team: str | None = Field(None, max_length=200)
    time_zone: TimeZone = None
    groups: list[str] | None = Field(None, max_length=100)
    attributes: dict[str, str] | None = Field(
        None, description="Custom attributes, merged key by key."
    )
    external_id: str | None = Field(None, max_length=255)
    active: bool | None = Field(None, description="False deactivates, True reactivates.")


class BulkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["create", "update", "deactivate", "reactivate"]
    email: Email
    fields: BulkUserFields = Field(default_factory=BulkUserFields)


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[BulkItem] = Field(min_length=1, max_length=1000)
    create_groups: bool = Field(
        False,
        description="Create the groups the items name that do not exist yet; "
        "else naming one is refused (group_not_found).",
    )


class GroupInfo(BaseModel):
    id: str
    name: str
    external_id: str | None = None
    members: int = Field(description="How many users are in it.")
    created_at: datetime


class GroupPage(BaseModel):
    items: list[GroupInfo]
    total: int


class BulkOutcome(BaseModel):
    index: int
    email: str
    outcome: Literal["created", "updated", "unchanged", "deactivated", "reactivated"]
    user_id: str
    changed: list[str] = Field(default_factory=list, description="The fields that changed.")


class BulkResult(BaseModel):
    results: list[BulkOutcome]
    counts: dict[str, int]
    replayed: bool = Field(
        False,
        description="True when this answer was stored for an earlier request with the same Idempotency-Key.",
    )


class UserPage(BaseModel):
    items: list[User]
    total: int | None = Field(
        description="Every user the filters match; null for a page asked with `after`."
    )
    limit: int
    offset: int


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(default_factory=lambda: ["read", "write"], min_length=1)
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    user_id: str | None = Field(
        None, description="Another user's id (needs the admin scope and role)."
    )


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(
        3600, ge=0, le=90 * 86400, description="How long the old secret keeps working."
    )


class ApiKey(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The visible start of the key, e.g. qyl_live_ab12cd34.")
    user_id: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    rotated_from_id: str | None = None
    rotated_to_id: str | None = None
    status: Literal["active", "expired", "revoked"]


class ApiKeyCreated(ApiKey):
    token: str = Field(description="The secret; shown only in this response.")


class Whoami(BaseModel):
    user: User
    key: ApiKey
    organisation: dict
    permissions: list[str]


class MeetingStored(BaseModel):
    id: str
    created: bool = Field(description="True when this PUT created the meeting.")
    changed: bool = Field(description="False when the server already had exactly this content.")
    client_id: str | None = None


class MeetingListItem(BaseModel):
    id: str
    title: str
    client: str | None = None
    client_id: str | None = None
    created_at: datetime
    duration_s: float
    action_items: int


class MeetingPage(Page[MeetingListItem]):
    pass


class ActionItemRow(ActionItem):
    meeting_id: str
    meeting_title: str
    client: str | None = None
    client_id: str | None = None


class ActionItemPage(Page[ActionItemRow]):
    pass


class ActionItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "done"]


class AuditEvent(BaseModel):
    id: int
    at: datetime
    actor_user_id: str | None = None
    api_key_id: str | None = None
    action: str
    target_type: str | None = None
    target_id: str | None = None
    detail: dict = Field(default_factory=dict)
    ip: str | None = None


class AuditEventPage(Page[AuditEvent]):
    pass


class DomainEvent(BaseModel):
    """One event of the server's event store (``GET /v1/events``)."""

    position: int = Field(description="Its place in the organisation's log (the cursor).")
    id: str
    stream: str = Field(description="The aggregate it belongs to, e.g. workflow_run:run-...")
    version: int = Field(description="Its version within the stream, from 1.")
    type: str = Field(description="e.g. user.deactivated, workflow_run.step_completed")
    class_version: int
    time: datetime
    org_id: str
    actor: dict | None = Field(None, description="{user_id, key_id}; null for the system.")
    correlation_id: str | None = None
    causation_id: str | None = None
    data: dict = Field(default_factory=dict)


class DomainEventPage(BaseModel):
    """A page of events in position order. A cursor page: pass ``next`` as ``after`` for
    the following one (it is ``after`` again when nothing is new; a page shorter than
    ``limit`` is the end for now); ``total`` is not counted (null) and ``offset`` is 0."""

    items: list[DomainEvent]
    total: int | None = None
    limit: int
    offset: int = 0
    after: int
    next: int
