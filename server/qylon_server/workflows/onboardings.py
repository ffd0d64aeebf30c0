"""Onboarding: a person's run of an email sequence. Start (idempotent per person and
sequence: a second start answers the same run; ``start_many`` for a batch), stop, list;
every change an event in the person's ``onboarding:USER`` stream (events/onboarding.py)
and audited.

A start that a running experiment covers (services/experiments.py ``covering``: one on
the sequence, or on one of its templates) assigns the person a variant and records their
exposure in the same transaction; a variant's ``sequence`` is run instead of the one asked
for (the onboarding keeps the name asked for, ``run_sequence`` says what runs), and its
``template`` is sent in place of the target template (workflows/onboarding.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import ApiError, lost_race, not_found
from ..events import domain, store
from ..events import onboarding as events
from ..models import Experiment, FlowRun, Onboarding, User
from ..services import audit, experiments
from . import sequences
from . import service as workflows


def _user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise not_found("User")
    return user


def find(session: Session, user_id: str, sequence: str) -> Onboarding | None:
    return session.scalar(
        select(Onboarding).where(Onboarding.user_id == user_id, Onboarding.sequence == sequence)
    )


def _uploaded(session: Session, sequence: str):
    stored = sequences.find(session, sequence)
    if stored is None:
        raise ApiError(
            404,
            f"No sequence {sequence!r} uploaded.",
            code="not_found",
            hint=f"qylon onboarding sequences upload config/sequences/{sequence}.yaml",
        )
    return stored


def start(
    session: Session, principal, client, *, email: str, sequence: str
) -> tuple[Onboarding, bool]:
    """Start ``sequence`` for the user ``email``: (row, created)."""
    user = _user(session, email)
    if user.status == "deactivated":
        raise ApiError(409, f"{user.email} is deactivated.", code="conflict")
    existing = find(session, user.id, sequence)
    if existing is not None:
        return existing, False
    stored = _uploaded(session, sequence)
    started = {"sequence": sequence}
    experiment = experiments.covering(session, sequence, stored.templates)
    if experiment is not None:
        name, _, _ = experiments.assignment_in(session, experiment, user.id, principal=principal)
        started.update(experiment_id=experiment.id, variant=name)
        other = experiments.variant(experiment, name).get("sequence")
        if other and other != sequence:
            stored = _uploaded(session, other)
            started["run_sequence"] = other
    run, _ = workflows.start(
        session,
        principal,
        client,
        name=sequences.workflow_name(stored.name),
        inputs={"user_id": user.id, "email": user.email},
        version=stored.version,
        idempotency_key=f"onboarding.{user.id}.{sequence}",
    )
    started.update(version=stored.version, run_id=run.id)
    events.record(
        session,
        principal,
        user.id,
        domain.OnboardingStarted,
        {**started, "email": user.email},
    )
    audit.record(
        session,
        principal,
        "onboarding.start",
        target_type="user",
        target_id=user.id,
        detail=started,
    )
    return find(session, user.id, sequence), True


MAX_BATCH = 500


def start_many(
    db, principal, client, items: list[dict], *, describe=lambda session, row: row, key_hash=None
) -> list[dict]:
    """Start each ``{"user", "sequence"}`` (the user's email), each in a transaction of its
    own, committed before the next begins: the event store's table lock (PostgreSQL) is
    held for one start at a time, never for the whole batch, and an item that fails
    changes nothing and stops no other. The items' events share one correlation id (the
    batch's). ``{"user", "sequence", "status": started | already_running | error,
    "onboarding": describe(session, row), "error"}`` in order."""
    correlation = f"req-{uuid.uuid4()}"
    results = []
    for item in items:
        out = {"user": item["user"], "sequence": item["sequence"], "onboarding": None}
        for attempt in (1, 2, 3):  # another try reads what a concurrent start made
            try:
                with db.session(principal.org_id, key_hash=key_hash) as session:
                    session.info[store.CORRELATION] = correlation
                    row, created = start(
                        session, principal, client, email=item["user"], sequence=item["sequence"]
                    )
                    out.update(
                        status="started" if created else "already_running",
                        onboarding=describe(session, row),
                    )
                break
            except ApiError as exc:
                out.update(status="error", error={"code": exc.code, "message": exc.message})
                break
            except Exception as exc:  # a race lost to another start or writer: again
                if not (isinstance(exc, IntegrityError) or lost_race(exc)):
                    raise
                if attempt == 3:
                    out.update(
                        status="error",
                        error={
                            "code": "version_conflict",
                            "message": "Started elsewhere at the same time; send it again.",
                        },
                    )
        results.append(out)
    return results


def stop(
    session: Session, principal, client, *, email: str, sequence: str | None = None
) -> list[Onboarding]:
    """Stop the person's running onboardings (or the one of ``sequence``): no further
    email, and the run's wait ends at once (the run is cancelled)."""
    user = _user(session, email)
    stmt = select(Onboarding).where(Onboarding.user_id == user.id)
    if sequence:
        stmt = stmt.where(Onboarding.sequence == sequence)
    rows = list(session.scalars(stmt))
    if sequence and not rows:
        raise not_found("Onboarding")
    for row in rows:
        if row.status != "running":
            continue
        events.record(
            session,
            principal,
            user.id,
            domain.OnboardingStopped,
            {"sequence": row.sequence, "reason": "stopped"},
        )
        run = session.get(FlowRun, row.run_id)
        if run is not None and run.status not in workflows.FINISHED:
            workflows.cancel(session, principal, client, run_id=run.id)
        audit.record(
            session,
            principal,
            "onboarding.stop",
            target_type="user",
            target_id=user.id,
            detail={"sequence": row.sequence, "run_id": row.run_id},
        )
    return rows


def listing(session: Session, *, email: str | None = None, sequence: str | None = None):
    stmt = select(Onboarding)
    if email:
        stmt = stmt.where(Onboarding.user_id == _user(session, email).id)
    if sequence:
        stmt = stmt.where(Onboarding.sequence == sequence)
    return list(session.scalars(stmt.order_by(Onboarding.started_at.desc(), Onboarding.id)))


def experiment_name(session: Session, row: Onboarding) -> str | None:
    """The name of the experiment that assigned ``row``'s variant, if any."""
    if not row.experiment_id:
        return None
    found = session.get(Experiment, row.experiment_id)
    return found.name if found is not None else row.experiment_id


def next_email(session: Session, row: Onboarding) -> dict | None:
    """The run's next email: its step and when it is due (from the run's plan steps)."""
    run = session.get(FlowRun, row.run_id)
    if run is None or row.status != "running":
        return None
    steps = run.steps or {}
    for name, step in sorted(steps.items(), key=lambda kv: kv[1].get("seq", 0)):
        if not name.endswith("_plan") or step.get("status") != "completed":
            continue
        send = name.removesuffix("_plan")
        if steps.get(send, {}).get("status") in ("completed", "skipped"):
            continue
        output = step.get("output") or {}
        if output.get("go"):
            return {"step": send, "due": output.get("due"), "local": output.get("local")}
    return None
