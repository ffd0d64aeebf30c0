"""Onboarding: a person's run of an email sequence. Start (idempotent per person and
sequence: a second start answers the same run), stop, list; every change an event in the
person's ``onboarding:USER`` stream (events/onboarding.py) and audited."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ApiError, not_found
from ..events import domain
from ..events import onboarding as events
from ..models import FlowRun, Onboarding, User
from ..services import audit
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
    stored = sequences.find(session, sequence)
    if stored is None:
        raise ApiError(
            404,
            f"No sequence {sequence!r} uploaded.",
            code="not_found",
            hint=f"qylon onboarding sequences upload config/sequences/{sequence}.yaml",
        )
    run, _ = workflows.start(
        session,
        principal,
        client,
        name=sequences.workflow_name(sequence),
        inputs={"user_id": user.id, "email": user.email},
        version=stored.version,
        idempotency_key=f"onboarding.{user.id}.{sequence}",
    )
    events.record(
        session,
        principal,
        user.id,
        domain.OnboardingStarted,
        {"sequence": sequence, "version": stored.version, "run_id": run.id, "email": user.email},
    )
    audit.record(
        session,
        principal,
        "onboarding.start",
        target_type="user",
        target_id=user.id,
        detail={"sequence": sequence, "version": stored.version, "run_id": run.id},
    )
    return find(session, user.id, sequence), True


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
