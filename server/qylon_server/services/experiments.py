"""A/B tests on sequences and templates (docs/experiments.md).

Every change is an event in the experiment's stream (``experiment:<id>``), applied to its
projections (``experiments``, ``experiment_exposures``) in the same transaction
(events/experiment_funnel.py), and the admin's changes are audited.

Onboarding's start (workflows/onboardings.py) asks ``covering`` for the running
experiment on the sequence it starts and ``assignment`` for the person's variant (which
records their exposure once); a variant may run another sequence or put another template
in place of the target one. An experiment's ``goal`` (an event type) converts an exposed
person when such an event about them is appended (services/experiment_goals.py).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import ApiError, not_found
from ..events import domain
from ..events.experiment_funnel import apply_experiment, apply_exposure, record
from ..models import EmailSequence, Experiment, ExperimentExposure, User, new_id
from . import audit, email_render, experiment_goals
from .experiment_math import two_proportions, variant_for

CONFIDENCE = 0.95


def get(session: Session, name: str) -> Experiment:
    """The organisation's experiment called ``name`` (or with that id); 404 if none."""
    row = session.scalar(select(Experiment).where(Experiment.name == name))
    if row is None:
        row = session.get(Experiment, name)
    if row is None:
        raise not_found(f"Experiment {name}")
    return row


def running_on(session: Session, target_kind: str, target: str) -> Experiment | None:
    """The running experiment on this sequence or template, if any (the oldest)."""
    return session.scalar(
        select(Experiment)
        .where(
            Experiment.target_kind == target_kind,
            Experiment.target == target,
            Experiment.status == "running",
        )
        .order_by(Experiment.created_at)
        .limit(1)
    )


def covering(session: Session, sequence: str, templates) -> Experiment | None:
    """The running experiment a start of ``sequence`` (whose steps use ``templates``)
    falls under: one on the sequence, else one on any of its templates (the oldest)."""
    found = running_on(session, "sequence", sequence)
    if found is not None or not templates:
        return found
    return session.scalar(
        select(Experiment)
        .where(
            Experiment.target_kind == "template",
            Experiment.target.in_(sorted(templates)),
            Experiment.status == "running",
        )
        .order_by(Experiment.created_at)
        .limit(1)
    )


def variant(row: Experiment, name: str | None) -> dict:
    """The variant called ``name`` (``{"name", "weight", "sequence"?, "template"?}``)."""
    return next((v for v in row.variants if v["name"] == name), {"name": name})


def template_text(row: Experiment | None, variant_name: str | None, template: str) -> str | None:
    """The text a person in ``variant_name`` gets in place of ``template``, if any."""
    if row is None or row.target_kind != "template" or row.target != template:
        return None
    name = variant(row, variant_name).get("template")
    return (row.templates or {}).get(name) if name else None


def _invalid(message: str, hint: str = "See docs/experiments.md.") -> ApiError:
    return ApiError(422, message, code="invalid_input", hint=hint)


def _checked(
    session: Session, target_kind: str, variants: list[dict], goal, goal_where, templates
) -> None:
    """422 unless the variants fit the target: on a sequence they may name uploaded
    sequences, on a template templates given in ``templates`` (which must render); the
    goal a known event type that is not an experiment's or a workflow run's own, and
    ``goal_where`` only with a goal."""
    wrong = "template" if target_kind == "sequence" else "sequence"
    for v in variants:
        if v.get(wrong):
            raise _invalid(
                f"Variant {v['name']}: an experiment on a {target_kind} varies no {wrong}."
            )
        named = v.get("sequence")
        if (
            named
            and session.scalar(select(EmailSequence.id).where(EmailSequence.name == named).limit(1))
            is None
        ):
            raise _invalid(
                f"Variant {v['name']}: no sequence {named!r} uploaded.",
                hint=f"qylon onboarding sequences upload config/sequences/{named}.yaml",
            )
        if v.get("template") and v["template"] not in templates:
            raise _invalid(
                f"Variant {v['name']}: template {v['template']!r} is not among those given.",
                hint="Give its text: --template VARIANT=config/email/NAME.md.j2.",
            )
    for name, text in templates.items():
        try:
            email_render.check(text)
        except email_render.TemplateInvalid as exc:
            raise _invalid(f"{name}.md.j2:{exc.line or ''}: {exc.message}") from None
    if goal is not None and goal not in experiment_goals.goal_types():
        raise _invalid(
            f"No event type {goal!r} can be a goal.",
            hint="e.g. compliance.item_completed or onboarding.completed (docs/events.md).",
        )
    if goal_where and goal is None:
        raise _invalid(
            "goal_where filters the goal's events: name the goal too.",
            hint="e.g. --goal compliance.item_completed --goal-where item_key=security-training",
        )


def listing(session: Session, *, limit: int, offset: int) -> tuple[list[Experiment], int]:
    total = session.scalar(select(func.count()).select_from(Experiment)) or 0
    rows = session.scalars(select(Experiment).order_by(Experiment.name).limit(limit).offset(offset))
    return list(rows), total


def create(
    session: Session,
    principal,
    *,
    name: str,
    target_kind: str,
    target: str,
    variants: list[dict],
    min_sample: int,
    goal: str | None = None,
    goal_where: dict | None = None,
    templates: dict[str, str] | None = None,
) -> Experiment:
    """A new experiment, in ``draft`` (``experiment.created``); 409 if the name is taken,
    422 when a variant names what is not there or the goal is no event type."""
    if session.scalar(select(Experiment.id).where(Experiment.name == name)) is not None:
        raise ApiError(
            409,
            f"An experiment named {name} exists already.",
            hint="Choose another name; `qylon experiments list` shows them.",
        )
    _checked(session, target_kind, variants, goal, goal_where, templates or {})
    ident = new_id()
    data = {
        "name": name,
        "target_kind": target_kind,
        "target": target,
        "variants": variants,
        "min_sample": min_sample,
        "goal": goal,
        "goal_where": goal_where or None,
        "templates": templates or None,
    }
    event = record(session, principal, ident, domain.ExperimentCreated, data)
    row = apply_experiment(None, event)
    session.add(row)
    experiment_goals.forget(session)
    audit.record(
        session,
        principal,
        "experiment.create",
        target_type="experiment",
        target_id=ident,
        detail={**data, "templates": sorted(templates or ())},
    )
    session.flush()
    return row


def start(session: Session, principal, row: Experiment) -> Experiment:
    """Run it (from draft, or again after a stop); nothing changes when it runs already."""
    return _move(session, principal, row, "running", domain.ExperimentStarted, "experiment.start")


def stop(session: Session, principal, row: Experiment) -> Experiment:
    """Stop it: nobody new is exposed (``assign`` gives the control), conversions of those
    exposed still count. Nothing changes when it is stopped already; a draft is 409."""
    if row.status == "draft":
        raise ApiError(409, f"Experiment {row.name} has not started.", hint="Start it first.")
    return _move(session, principal, row, "stopped", domain.ExperimentStopped, "experiment.stop")


def _move(session: Session, principal, row: Experiment, status: str, cls, action: str):
    if row.status == status:
        return row
    event = record(session, principal, row.id, cls, {})
    apply_experiment(row, event)
    audit.record(
        session,
        principal,
        action,
        target_type="experiment",
        target_id=row.id,
        detail={"name": row.name},
    )
    session.flush()
    return row


def _check_org(session: Session, org) -> None:
    org_id = getattr(org, "id", org)
    if org_id is not None and session.info.get("org_id") not in (None, org_id):
        raise ValueError(f"the session belongs to another organisation than {org_id}")


def assign(session: Session, org, experiment_name: str, user_id: str, *, principal=None) -> str:
    """The variant ``user_id`` gets in the experiment, recording their exposure once
    (``experiment.exposure``) while it runs. Someone exposed keeps their variant after a
    stop; before the start and after the stop everyone else gets the control."""
    return assignment(session, org, experiment_name, user_id, principal=principal)[0]


def assignment(
    session: Session, org, experiment_name: str, user_id: str, *, principal=None
) -> tuple[str, bool, bool]:
    """(variant, exposed, new): as ``assign``, with whether the exposure is recorded and
    whether this call recorded it."""
    _check_org(session, org)
    return assignment_in(session, get(session, experiment_name), user_id, principal=principal)


def assignment_in(
    session: Session, row: Experiment, user_id: str, *, principal=None
) -> tuple[str, bool, bool]:
    """``assignment`` for an experiment row already read in this session."""
    seen = session.get(ExperimentExposure, (row.id, user_id))
    if seen is not None:
        return seen.variant, True, False
    if row.status != "running":
        return row.variants[0]["name"], False, False
    chosen = variant_for(row.id, user_id, row.variants)
    data = {"user_id": user_id, "variant": chosen}
    try:
        with session.begin_nested():  # another process may expose them at the same time
            event = record(session, principal, row.id, domain.ExperimentExposure, data)
            session.add(apply_exposure(None, event))
            session.flush()
    except IntegrityError:
        return session.get(ExperimentExposure, (row.id, user_id)).variant, True, False
    return chosen, True, True


def convert(
    session: Session, org, experiment_name: str, user_id: str, *, principal=None
) -> tuple[str | None, bool, bool]:
    """Record that ``user_id`` reached the goal (``experiment.conversion``), once, if they
    were exposed: (their variant or None, converted, whether this call recorded it)."""
    _check_org(session, org)
    row = get(session, experiment_name)
    seen = session.get(ExperimentExposure, (row.id, user_id), with_for_update=True)
    if seen is None:
        return None, False, False
    return seen.variant, True, experiment_goals.converted(session, principal, seen)


def person(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("User")
    return user


def counts(session: Session, row: Experiment) -> dict[str, tuple[int, int]]:
    """(conversions, exposures) per variant, from the funnel."""
    found = session.execute(
        select(
            ExperimentExposure.variant,
            func.count(),
            func.count(ExperimentExposure.converted_at),
        )
        .where(ExperimentExposure.experiment_id == row.id)
        .group_by(ExperimentExposure.variant)
    )
    return {variant: (int(converted), int(exposed)) for variant, exposed, converted in found}


def results(session: Session, row: Experiment, *, confidence: float = CONFIDENCE) -> dict:
    """Each variant's exposures, conversions and rate, compared with the control (the
    first variant), and warnings for variants below the minimum sample."""
    seen = counts(session, row)
    control = row.variants[0]["name"]
    base = seen.get(control, (0, 0))
    out, warnings = [], []
    for variant in row.variants:
        converted, exposed = seen.get(variant["name"], (0, 0))
        compared = (
            two_proportions(base, (converted, exposed), confidence=confidence)
            if variant["name"] != control
            else {"difference": None, "lift": None, "z": None, "p_value": None, "ci": None}
        )
        short = exposed < row.min_sample
        if short:
            warnings.append(
                f"Variant {variant['name']} has {exposed} exposure(s), below the minimum "
                f"sample of {row.min_sample}: its figures are not reliable yet."
            )
        out.append(
            {
                "name": variant["name"],
                "weight": variant["weight"],
                "exposures": exposed,
                "conversions": converted,
                "rate": converted / exposed if exposed else None,
                "below_min_sample": short,
                **compared,
            }
        )
    return {"control": control, "confidence": confidence, "variants": out, "warnings": warnings}
