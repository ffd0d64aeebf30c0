"""The team's onboarding data (issue 20): experiments, engagement rules and nudges,
compliance policies, items and evidence, email sequences, onboardings and mail settings.
Re-exported by ``models``, which callers import them from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, OrgScoped, new_id, now


class Experiment(OrgScoped, Base):
    """An A/B test on a sequence or a template (docs/experiments.md): a projection of its
    ``experiment:<id>`` stream (events/experiment_funnel.py), rebuilt by replay."""

    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_experiments_org_name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str] = mapped_column(String(20))  # sequence, template
    target: Mapped[str] = mapped_column(String(200))
    variants: Mapped[list] = mapped_column(JSON)  # [{"name", "weight"}], the first the control
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft, running, stopped
    min_sample: Mapped[int] = mapped_column(Integer, default=100)
    goal: Mapped[str | None] = mapped_column(String(100))  # the event type that converts
    goal_where: Mapped[dict | None] = mapped_column(JSON)  # values the goal's data must hold
    templates: Mapped[dict | None] = mapped_column(JSON)  # name -> text, for its variants
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]


class ExperimentExposure(OrgScoped, Base):
    """The funnel: one row per person exposed to an experiment (their variant), with the
    time they converted. A projection of the experiment's exposure and conversion events."""

    __tablename__ = "experiment_exposures"
    __table_args__ = (
        Index("ix_experiment_exposures_experiment_variant", "experiment_id", "variant"),
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    variant: Mapped[str] = mapped_column(String(64))
    exposed_at: Mapped[datetime] = mapped_column(default=now)
    converted_at: Mapped[datetime | None]


class EngagementRule(OrgScoped, Base):
    """One uploaded version of a re-engagement rule (its YAML text, as sent;
    qylon_cli/engagement_rules.py). The newest version of each name is the one in force."""

    __tablename__ = "engagement_rules"
    __table_args__ = (
        UniqueConstraint("org_id", "name", "version", name="uq_engagement_rules_org_name_version"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=now)


class EngagementNudge(OrgScoped, Base):
    """A nudge a rule started for a person (the workflow run): a projection of the
    ``engagement.nudge_started`` events; the weekly caps count these. ``at`` is the time
    the rules were evaluated for (the clock of the evaluation, not of the insert)."""

    __tablename__ = "engagement_nudges"
    __table_args__ = (Index("ix_engagement_nudges_org_user_at", "org_id", "user_id", "at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[str] = mapped_column(String(36))
    rule: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    reasons: Mapped[list] = mapped_column(JSON, default=list)


class CompliancePolicy(OrgScoped, Base):
    """One uploaded version of a compliance policy (its YAML text, as sent); versions of a
    name only grow, as workflow definitions' do. Assignments keep the version they used."""

    __tablename__ = "compliance_policies"
    __table_args__ = (
        UniqueConstraint(
            "org_id", "name", "version", name="uq_compliance_policies_org_name_version"
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    frameworks: Mapped[list] = mapped_column(JSON, default=list)
    text: Mapped[str] = mapped_column(Text)
    workflow: Mapped[str | None] = mapped_column(String(64))  # its escalation workflow's name
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=now)


class ComplianceItem(OrgScoped, Base):
    """What one person must complete (a projection of their ``compliance:<user>`` stream:
    events/compliance.py). One row per person, policy and item."""

    __tablename__ = "compliance_items"
    __table_args__ = (
        UniqueConstraint(
            "org_id", "user_id", "policy_name", "item_key", name="uq_compliance_items_org_user"
        ),
        Index("ix_compliance_items_org_status", "org_id", "status"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("compliance_policies.id"))
    policy_name: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[int] = mapped_column(Integer)
    item_key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    frameworks: Mapped[list] = mapped_column(JSON, default=list)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)  # what completes it
    start_date: Mapped[str] = mapped_column(String(10))
    due_date: Mapped[str] = mapped_column(String(10))
    # assigned, completed, withdrawn (an admin took it back: never overdue, not missing)
    status: Mapped[str] = mapped_column(String(20), default="assigned")
    assigned_at: Mapped[datetime] = mapped_column(default=now)
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(36))
    evidence_id: Mapped[str | None] = mapped_column(String(36))
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    # [{rung, after, notify, to, due_date, time, at}]: ``due_date`` the deadline the rung
    # counted from (a redate starts the ladder again from the new one)
    escalations: Mapped[list] = mapped_column(JSON, default=list)
    run_id: Mapped[str | None] = mapped_column(String(64))  # the escalation run
    updated_at: Mapped[datetime] = mapped_column(default=now)
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(String(36))
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)


class ComplianceEvidence(OrgScoped, Base):
    """An uploaded file that completed an item, kept with its SHA-256 (the completion
    event names the hash). Small by rule (the policy's ``max_bytes``, 5 MiB at most)."""

    __tablename__ = "compliance_evidence"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    item_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=now)


# ---------------------------------------------------------------------------- onboarding


class EmailSequence(OrgScoped, Base):
    """One uploaded version of an email sequence (its YAML text) with the text of the
    templates it names, as uploaded: a run keeps reading the version it started with."""

    __tablename__ = "email_sequences"
    __table_args__ = (
        UniqueConstraint("org_id", "name", "version", name="uq_email_sequences_org_name_version"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(48))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    templates: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=now)


class Onboarding(OrgScoped, Base):
    """One person's run of one sequence: a projection of their ``onboarding:USER`` stream."""

    __tablename__ = "onboardings"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id", "sequence", name="uq_onboardings_org_user_sequence"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[str] = mapped_column(String(36))
    email: Mapped[str] = mapped_column(String(320))
    sequence: Mapped[str] = mapped_column(String(48))
    version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    run_sequence: Mapped[str | None] = mapped_column(String(48))  # a variant's, if not this
    experiment_id: Mapped[str | None] = mapped_column(String(36))  # the one that assigned it
    variant: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(
        String(20), default="running"
    )  # running, completed, stopped
    reason: Mapped[str | None] = mapped_column(String(200))  # why it stopped
    emails_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_step: Mapped[str | None] = mapped_column(String(64))
    last_email_at: Mapped[datetime | None]
    started_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    stopped_at: Mapped[datetime | None]


class MailSuppression(OrgScoped, Base):
    """An address that gets no more onboarding email: unsubscribed, or bouncing (a
    permanent refusal by the mail server). A projection of ``mail.*`` events."""

    __tablename__ = "mail_suppressions"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))  # unsubscribed, bounced
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=now)


class MailSettings(OrgScoped, Base):
    """An organisation's mail relay and sender (else QYLON_SMTP_URL / QYLON_MAIL_FROM),
    and the country and time zone its sequences count business days in by default."""

    __tablename__ = "mail_settings"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    smtp_url: Mapped[str | None] = mapped_column(String(500))  # a secret: never read back
    mail_from: Mapped[str | None] = mapped_column(String(320))
    country: Mapped[str | None] = mapped_column(String(6))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    notify_events: Mapped[list | None] = mapped_column(JSON)  # per-event email defaults
    updated_by: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(default=now)
