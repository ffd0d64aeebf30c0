"""The domain's events: one class per type, each with the metadata every event carries.

A stream is one aggregate's history, named ``"kind:id"`` (``user:<id>``, ``client:<id>``,
``meeting:<id>``, ``workflow_run:run-<uuid>``); its eventsourcing originator id is a
UUID derived from the organisation and that name, so two organisations never share one.

Every event holds: ``event_id``, ``stream``, ``originator_version`` (the version within its
stream), its type (``TYPE``, e.g. ``user.deactivated``) and class version, ``timestamp``,
``org_id``, ``actor`` (``{"user_id", "key_id"}``, or None for the system),
``correlation_id`` (the request, or the workflow run, it belongs to), ``causation_id``
(the command or event that caused it) and ``data``.

Stored events are never rewritten: a type whose ``data`` changes shape gets a higher
``class_version`` and an ``upcast_vN_vN+1`` static method that eventsourcing's mapper runs
on older rows as it reads them.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from eventsourcing.domain import DomainEvent
from eventsourcing.utils import get_topic

NAMESPACE = uuid.UUID("2f6c0d1e-5b7a-4c39-9e21-7a4d3f6b8c10")
TYPES: dict[str, type[Event]] = {}


def originator_id(org_id: str, stream: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{org_id}/{stream}")


def stream_of(kind: str, ident: str) -> str:
    return f"{kind}:{ident}"


class Event(DomainEvent):
    event_id: str  # a UUID's text (cheaper to read back than a transcoded UUID)
    stream: str
    org_id: str
    actor: dict | None
    correlation_id: str | None
    causation_id: str | None
    data: dict

    TYPE: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("TYPE"):
            TYPES[cls.TYPE] = cls


def topic_of(type_name: str) -> str:
    """The stored topic of an event type (``user.created``); KeyError if unknown."""
    return get_topic(TYPES[type_name])


# ---------------------------------------------------------------------------- users


class UserCreated(Event):
    TYPE = "user.created"  # data: email, role, status, via


class UserSignedIn(Event):
    TYPE = "user.signed_in"  # data: key_id, day (UTC); once per person per day


class UserDeactivated(Event):
    TYPE = "user.deactivated"  # data: email


class UserReactivated(Event):
    TYPE = "user.reactivated"  # data: email


class UserRoleChanged(Event):
    """data (v2): ``{"email", "from", "to"}``. Version 1 stored only ``{"role"}``, the new
    role: the previous one is unknown for those events (``from`` is None)."""

    TYPE = "user.role_changed"
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        data = dict(state["data"])
        data["to"] = data.pop("role")
        data.setdefault("from", None)
        data.setdefault("email", None)
        state["data"] = data


# ---------------------------------------------------------------------------- clients, meetings


class ClientCreated(Event):
    TYPE = "client.created"  # data: name, domain


class MeetingStored(Event):
    TYPE = "meeting.stored"  # data: created, content_hash, client_id, action_items


class MeetingDeleted(Event):
    TYPE = "meeting.deleted"  # data: {}


# on the meeting's stream; data of each: meeting_id, item_id, owner, task, due


class ActionItemCreated(Event):
    TYPE = "action_item.created"  # an item the meeting did not have before


class ActionItemDueChanged(Event):
    TYPE = "action_item.due_changed"  # data also: previous_due


class ActionItemOverdue(Event):
    TYPE = "action_item.overdue"  # once per item and due date (workflows/overdue.py)


# ---------------------------------------------------------------------------- workflow runs
# data of each: the run's changes as the interpreter recorded them (projections.py reads
# them back): "status", "error", "finished_at" for the run, and for a step "step" (its
# name) with "record" (the fields of its entry in flow_runs.steps that changed)


class RunEnqueued(Event):
    TYPE = "workflow_run.enqueued"  # data: every column a flow_runs row starts with


class RunStarted(Event):
    TYPE = "workflow_run.started"


class RunStatusChanged(Event):
    TYPE = "workflow_run.status_changed"  # a status other than running or an outcome


class RunFinished(Event):
    TYPE = "workflow_run.finished"  # status: its outcome


class RunCancelRequested(Event):
    TYPE = "workflow_run.cancel_requested"  # cancel_requested_at


class RunResumed(Event):
    TYPE = "workflow_run.resumed"  # status (enqueued), resumed_at; error etc. cleared


class RunDeadlineSet(Event):
    TYPE = "workflow_run.deadline_set"  # deadline_at: its timeout from its start or resume


class StepAttempted(Event):
    TYPE = "workflow_run.step_attempted"  # an attempt failed (the step may be retried)


class StepCompleted(Event):
    TYPE = "workflow_run.step_completed"


class StepFailed(Event):
    TYPE = "workflow_run.step_failed"


class StepSkipped(Event):
    TYPE = "workflow_run.step_skipped"


class StepCompensated(Event):
    TYPE = "workflow_run.step_compensated"  # the compensation of a completed step ran


class StepWaiting(Event):
    TYPE = "workflow_run.step_waiting"  # a sleep or wait_for began


class StepChanged(Event):
    TYPE = "workflow_run.step_changed"  # any other change of a step's record


# ---------------------------------------------------------------------------- experiments
# stream experiment:<id>; the funnel projection (events/experiment_funnel.py) reads them


class ExperimentCreated(Event):
    TYPE = "experiment.created"  # data: name, target_kind, target, variants, min_sample,
    # goal and templates (both absent before migration 0015)


class ExperimentStarted(Event):
    TYPE = "experiment.started"  # data: {}


class ExperimentStopped(Event):
    TYPE = "experiment.stopped"  # data: {}


class ExperimentExposure(Event):
    TYPE = "experiment.exposure"  # data: user_id, variant (once per person)


class ExperimentConversion(Event):
    TYPE = "experiment.conversion"  # data: user_id, variant (once per exposed person);
    # goal, goal_event: the event that converted them (none through the API)


# ---------------------------------------------------------------------------- re-engagement


class NudgeStarted(Event):
    TYPE = "engagement.nudge_started"  # stream engagement:<user id>; data: nudge_id, rule,
    # run_id, at (the evaluation's time), reasons


RUN_TYPES = tuple(t for t in TYPES if t.startswith("workflow_run."))


# ---------------------------------------------------------------------------- compliance
# stream ``compliance:<user id>`` (one per person); events/compliance.py reads them back
# into compliance_items. Policies: ``compliance_policy:<name>``.


class CompliancePolicyUploaded(Event):
    TYPE = "compliance.policy_uploaded"  # data: policy_id, name, version, sha256, frameworks


class ComplianceItemAssigned(Event):
    TYPE = "compliance.item_assigned"  # data: item_id and the compliance_items columns


class ComplianceItemCompleted(Event):
    """data: item_id, policy and item_key (the policy's name and the item's key in it;
    since migration 0018), evidence_sha256, evidence_id (None for an acknowledgement,
    whose hash is the document's), content_type, size, via (api, page), completed_by."""

    TYPE = "compliance.item_completed"


class ComplianceItemEscalated(Event):
    """data: item_id, rung, after, notify, to, run_id; ``due_date`` (the deadline it counted
    from) and ``time`` (the rung's time: that date + ``after``, ISO 8601, UTC); events
    before absolute ladders hold ``day`` (the run's day) instead of those two."""

    TYPE = "compliance.item_escalated"


class ComplianceItemOverdue(Event):
    """data: item_id, user_id, policy_name, item_key, title, due_date: still open after
    the end of its due day (UTC); once per item and due date (workflows/overdue.py)."""

    TYPE = "compliance.item_overdue"


class ComplianceItemWithdrawn(Event):
    TYPE = "compliance.item_withdrawn"  # data: item_id, reason, withdrawn_by


class ComplianceItemRedated(Event):
    """data: item_id, due_date (the new one), previous (the one it had), reason (or None),
    run_id (the escalation run that follows the new date, or None)."""

    TYPE = "compliance.item_redated"


COMPLIANCE_TYPES = tuple(t for t in TYPES if t.startswith("compliance.item_"))


# ---------------------------------------------------------------------------- onboarding
# stream "onboarding:USER_ID": a person's email sequences and their address's state
# (events/onboarding.py projects them into onboardings and mail_suppressions)


class OnboardingStarted(Event):
    TYPE = "onboarding.started"  # data: sequence, version, run_id, email; and when an
    # experiment assigned a variant: experiment_id, variant, run_sequence (another sequence)


class OnboardingEmailSent(Event):
    TYPE = "onboarding.email_sent"  # data: sequence, step, to, message_id


class OnboardingEmailSkipped(Event):
    TYPE = "onboarding.email_skipped"  # data: sequence, step, reason


class OnboardingStopped(Event):
    TYPE = "onboarding.stopped"  # data: sequence, reason


class OnboardingCompleted(Event):
    TYPE = "onboarding.completed"  # data: sequence


class OnboardingUnsubscribed(Event):
    TYPE = "onboarding.unsubscribed"  # data: email


class OnboardingBounced(Event):
    TYPE = "onboarding.bounced"  # data: email, code, detail (a permanent SMTP refusal)


ONBOARDING_TYPES = tuple(t for t in TYPES if t.startswith("onboarding."))
