"""The server's tables (SQLAlchemy 2.0 declarative). Every row belongs to one organisation.

Table names steer clear of those DBOS Transact creates bare on SQLite
(workflow_status, operation_outputs, queues, notifications, ...), so the
workflow engine can share this database later.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """Timezone-aware on PostgreSQL; SQLite keeps naive UTC, which we re-label on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def result_processor(self, dialect, coltype):
        """PostgreSQL's values come back aware (psycopg): nothing to do for each of them
        (a page of 50 clients reads 150)."""
        if dialect.name == "postgresql":
            return self.impl_instance.result_processor(dialect, coltype)
        return super().result_processor(dialect, coltype)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar = {datetime: UTCDateTime()}


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=now)


class OrgScoped:
    """Mixin: rows of these tables are filtered by organisation on every query (db.py).

    Each model declares its own ``org_id`` column (indexed, part of the primary key, or
    covered by a unique constraint that starts with it), which replaces this one. This
    declaration is not dead: ``with_loader_criteria(OrgScoped, lambda cls: cls.org_id ...)``
    in db.py reads ``OrgScoped.org_id`` when it analyses its criteria."""

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)


class ListenerConfig(OrgScoped, Base):
    """A token that triggers (migration 0025) replace whenever what the event store's
    listeners read changes in the organisation (events/listener_config.py). No row: it
    has not changed since the migration."""

    __tablename__ = "listener_config"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    token: Mapped[str] = mapped_column(String(36))


class User(OrgScoped, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("org_id", "email", name="uq_users_org_email"),
        # partial: only users with an external id, so that an org_id condition alone
        # cannot use it (see below)
        Index(
            "uq_users_org_external_id",
            "org_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
            sqlite_where=text("external_id IS NOT NULL"),
        ),
        # partial, like the external id's: a condition on org_id alone cannot use it
        Index(
            "ix_users_org_user_name",
            "org_id",
            func.lower(text("user_name")),
            unique=True,
            postgresql_where=text("user_name IS NOT NULL"),
            sqlite_where=text("user_name IS NOT NULL"),
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # no index of its own: uq_users_org_email (org_id, email) serves org_id look-ups, and
    # a second index that starts with org_id misleads PostgreSQL's planner into scanning
    # a whole organisation for each email or id look-up while its statistics are stale
    # (right after a big import, before autovacuum has analysed the table)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    email: Mapped[str] = mapped_column(String(320))  # stored lower-cased
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="member")
    status: Mapped[str] = mapped_column(
        String(20), default="invited"
    )  # invited, active, deactivated
    manager_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(
        String(255)
    )  # the identity provider's id (SCIM)
    location: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[str | None] = mapped_column(String(10))  # ISO date
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    team: Mapped[str | None] = mapped_column(String(200))
    groups: Mapped[list | None] = mapped_column(JSON)
    attributes: Mapped[dict | None] = mapped_column(JSON)  # custom attributes (attr:NAME columns)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    deactivated_at: Mapped[datetime | None]
    # deleted by an identity provider (SCIM DELETE): deactivated, and gone from SCIM
    deprovisioned_at: Mapped[datetime | None]
    # the identity provider's login (SCIM userName) when it is not the email, kept as sent
    user_name: Mapped[str | None] = mapped_column(String(320))
    # the rest of the SCIM user as the identity provider sent it (nickName, locale, more
    # emails...), returned unchanged; the columns above win where both hold a value
    scim: Mapped[dict | None] = mapped_column(JSON)
    # IANA time zone (Europe/London): when onboarding emails are due (issue 20)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # the UTC day of their latest authenticated request: a ``user.signed_in`` event is
    # appended when it changes, so sign-ins count once per person per day (engagement)
    signed_in_on: Mapped[date | None] = mapped_column(Date)


class Invitation(OrgScoped, Base):
    """An invitation recorded for a new user (sending the email comes with onboarding)."""

    __tablename__ = "invitations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    invited_by: Mapped[str | None] = mapped_column(String(36))
    via: Mapped[str] = mapped_column(String(20), default="api")  # api, bulk, scim
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, sent, accepted
    created_at: Mapped[datetime] = mapped_column(default=now)
    sent_at: Mapped[datetime | None]


class Group(OrgScoped, Base):
    """A group of users (SCIM Groups, the `groups` column of an import). Display names are
    unique in an organisation, compared case-insensitively through ``name_key``."""

    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("org_id", "name_key", name="uq_groups_org_name_key"),
        UniqueConstraint("org_id", "external_id", name="uq_groups_org_external_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    display_name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))  # display_name.casefold()
    external_id: Mapped[str | None] = mapped_column(
        String(255)
    )  # the identity provider's id (SCIM)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class GroupMember(OrgScoped, Base):
    """Who is in which group. ``users.groups`` caches each user's group names (sorted);
    the Provisioner keeps the two in step."""

    __tablename__ = "group_members"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    display: Mapped[str | None] = mapped_column(String(320))  # as SCIM sent it


class IdempotencyKey(OrgScoped, Base):
    """The stored answer to a bulk request, replayed when its key comes again."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_idempotency_keys_org_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=now)


class ApiKey(OrgScoped, Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(40))  # shown to people: qyl_live_ab12cd34
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256, hex
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    rotated_from_id: Mapped[str | None] = mapped_column(String(36))
    rotated_to_id: Mapped[str | None] = mapped_column(String(36))


class Client(OrgScoped, Base):
    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("org_id", "name", name="uq_clients_org_name"),
        # the clients page's order: a page of 50 read in order, not all of them sorted
        Index("ix_clients_org_status_name", "org_id", "status", func.lower(text("name")), "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active, archived
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    archived_at: Mapped[datetime | None]


class Meeting(OrgScoped, Base):
    """A meeting pushed by an agent: the id is the agent's UUID, unique within an org."""

    __tablename__ = "meetings"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    client_name: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id"), index=True)
    source: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    language: Mapped[str | None] = mapped_column(String(20))
    model: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str | None] = mapped_column(Text)
    decisions: Mapped[list] = mapped_column(JSON, default=list)
    speakers: Mapped[list] = mapped_column(JSON, default=list)
    segments: Mapped[list] = mapped_column(JSON, default=list)
    content_hash: Mapped[str] = mapped_column(String(64))
    # The agent's time of its latest edit: an upload older than this is refused (stale_edit).
    edited_at: Mapped[datetime | None]
    date_source: Mapped[str | None] = mapped_column(String(20))
    uploaded_by: Mapped[str | None] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class ActionItem(OrgScoped, Base):
    __tablename__ = "action_items"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "meeting_id"], ["meetings.org_id", "meetings.id"], ondelete="CASCADE"
        ),
        Index("ix_action_items_org_status", "org_id", "status"),
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(200), index=True)
    task: Mapped[str] = mapped_column(Text)
    due: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="open")
    quote: Mapped[str | None] = mapped_column(Text)
    start: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class AuditEvent(OrgScoped, Base):
    """Append-only: triggers refuse UPDATE and DELETE on both SQLite and PostgreSQL."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=now, index=True)
    actor_user_id: Mapped[str | None] = mapped_column(String(36))
    api_key_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))


class FlowDefinition(OrgScoped, Base):
    """One uploaded version of a workflow definition (its YAML text, as sent). A name's
    versions only grow; a run keeps the text it started with (``flow_runs.definition``)."""

    __tablename__ = "flow_definitions"
    __table_args__ = (
        UniqueConstraint("org_id", "name", "version", name="uq_flow_definitions_org_name_version"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=now)


class FlowRun(OrgScoped, Base):
    """One run of a workflow: what tenants see of it (DBOS's own tables are shared by every
    organisation and sit outside row-level security). ``id`` is the DBOS workflow id.
    ``steps`` maps each step's name to its status, attempts, error and output."""

    __tablename__ = "flow_runs"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key", name="uq_flow_runs_org_idempotency_key"),
        Index("ix_flow_runs_org_status", "org_id", "status"),
        Index("ix_flow_runs_org_subject", "org_id", "subject"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    definition_id: Mapped[str] = mapped_column(ForeignKey("flow_definitions.id"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="enqueued")
    input: Mapped[dict] = mapped_column(JSON, default=dict)
    steps: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(36))
    key_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=now, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    finished_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    resumed_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    subject: Mapped[str | None] = mapped_column(String(500))
    engine_id: Mapped[str | None] = mapped_column(String(80))  # a parked run's continuation
    started_at: Mapped[datetime | None]  # its first start (a run's timeout counts from it)
    # the version of its stream's last event (projections.apply); None: a row older than that
    stream_version: Mapped[int | None]


# the integration, onboarding, notification and webhook tables live in their own modules (one job per
# module); imported last, as they build on Base and OrgScoped above, and re-exported
from .models_integrations import IntegrationConnection  # noqa: F401
from .models_notifications import NotificationPrefs  # noqa: F401
from .models_onboarding import (  # noqa: F401
    ComplianceEvidence,
    ComplianceItem,
    CompliancePolicy,
    EmailSequence,
    EngagementNudge,
    EngagementRule,
    Experiment,
    ExperimentExposure,
    MailSettings,
    MailSuppression,
    Onboarding,
)
from .models_transcription import TranscriptionAudio, TranscriptionJob  # noqa: F401
from .models_webhooks import (  # noqa: F401
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
