"""The actions an email sequence compiles to (workflows/sequences.py):

- ``onboarding.plan``: when the step's email is due (business days in the person's time
  zone, at the local hour), from the previous email's due time or now; ``go`` false when
  the onboarding has stopped. Its output is checkpointed: a restarted run waits for the
  same time.
- ``onboarding.send``: at send time, the stop rules (the person unsubscribed, an item
  completed), the skip rules and the recipient's address (unsubscribed or bouncing) are
  checked; then one multipart/alternative message through the organisation's relay,
  with ``<RUN.STEP@DOMAIN>`` as Message-ID (a resend after a crash carries the same) and
  RFC 8058 one-click unsubscribe headers. A 5xx at RCPT or DATA marks the address as
  bouncing (an event) and the step completes without sending.
- ``onboarding.finish``: the onboarding completed (if nothing stopped it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from ..events import domain
from ..events import onboarding as events
from ..models import EmailSequence, Experiment, MailSuppression, Onboarding, Organisation, User
from ..services import business_days, email_render, experiments, mail_settings
from . import engine, mail, sequences
from .actions import ActionContext, ActionError, action


def _onboarding(ctx: ActionContext, args: dict) -> Onboarding:
    """The onboarding this run carries out: by its run (a variant's sequence runs under
    the name asked for), else by person and sequence."""
    row = ctx.session.scalar(
        select(Onboarding).where(
            Onboarding.user_id == args.get("user_id"), Onboarding.run_id == ctx.run_id
        )
    ) or ctx.session.scalar(
        select(Onboarding).where(
            Onboarding.user_id == args.get("user_id"), Onboarding.sequence == args.get("sequence")
        )
    )
    if row is None:
        raise ActionError("not_found", f"no onboarding {args.get('sequence')} for this user")
    return row


def _step(ctx: ActionContext, args: dict):
    stored = ctx.session.scalar(
        select(EmailSequence).where(
            EmailSequence.name == args.get("sequence"),
            EmailSequence.version == args.get("version"),
        )
    )
    if stored is None:
        raise ActionError("not_found", f"sequence {args.get('sequence')} v{args.get('version')}")
    sequence = sequences.load(stored)
    step = next((s for s in sequence.steps if s.name == args.get("step")), None)
    if step is None:
        raise ActionError("invalid_input", f"no step {args.get('step')!r} in the sequence")
    return stored, sequence, step


def time_zone(user: User, settings) -> str:
    """The person's time zone: theirs, else ``attributes.time_zone``, else the
    organisation's, else UTC."""
    return (
        user.time_zone
        or (user.attributes or {}).get("time_zone")
        or (settings.time_zone if settings is not None else None)
        or "UTC"
    )


@action("onboarding.plan")
def plan(ctx: ActionContext, args: dict) -> dict:
    """{user_id, sequence, version, step, after?} → {go, due, local, time_zone}"""
    row = _onboarding(ctx, args)
    if row.status != "running":
        return {"go": False, "due": None, "reason": row.reason or row.status}
    _, sequence, step = _step(ctx, args)
    user = ctx.session.get(User, row.user_id)
    settings = mail_settings.get(ctx.session)
    zone = time_zone(user, settings)
    country = sequence.holidays or (settings.country if settings is not None else None)
    after = datetime.fromisoformat(args["after"]) if args.get("after") else datetime.now(UTC)
    try:
        due = business_days.due(after, step.delay, step.at, zone, country)
    except business_days.UnknownZone as exc:
        raise ActionError("invalid_input", str(exc)) from None
    return {
        "go": True,
        "due": due.isoformat(),
        "local": due.astimezone(business_days.zone(zone)).isoformat(),
        "time_zone": zone,
    }


def _person(user: User | None) -> dict | None:
    if user is None:
        return None
    name = " ".join(p for p in (user.given_name, user.family_name) if p)
    name = user.display_name or name or user.email
    return {
        "email": user.email,
        "first_name": user.given_name or name.split()[0],
        "last_name": user.family_name,
        "name": name,
        "title": user.title,
        "team": user.team,
        "start_date": user.start_date,
    }


def _links(ctx: ActionContext, person: User, recipient: User, sequence: str) -> dict:
    from .. import links

    settings = engine.settings()
    unsubscribe = links.Link("unsubscribe", ctx.org_id, recipient.id, sequence)
    checklist = links.Link("checklist", ctx.org_id, person.id)
    return {
        "unsubscribe": links.url(settings, unsubscribe, "/p/unsubscribe"),
        "checklist": links.url(settings, checklist, "/p/checklist"),
    }


def _skip(ctx: ActionContext, row: Onboarding, step: str, reason: str) -> dict:
    events.record(
        ctx.session,
        ctx.principal,
        row.user_id,
        domain.OnboardingEmailSkipped,
        {"sequence": row.sequence, "step": step, "reason": reason},
    )
    return {"sent": False, "reason": reason}


def _stop(ctx: ActionContext, row: Onboarding, reason: str) -> dict:
    events.record(
        ctx.session,
        ctx.principal,
        row.user_id,
        domain.OnboardingStopped,
        {"sequence": row.sequence, "reason": reason},
    )
    return {"sent": False, "reason": reason, "stopped": True}


def _suppressed(ctx: ActionContext, email: str) -> str | None:
    found = ctx.session.get(MailSuppression, (ctx.org_id, email))
    return found.reason if found is not None else None


@action("onboarding.send")
def send(ctx: ActionContext, args: dict) -> dict:
    """{user_id, sequence, version, step} → {sent, message_id?, to?, reason?}"""
    row = _onboarding(ctx, args)
    if row.status != "running":
        return {"sent": False, "reason": row.reason or row.status}
    stored, sequence, step = _step(ctx, args)
    person = ctx.session.get(User, row.user_id)
    if person is None or person.status == "deactivated":
        return _stop(ctx, row, "deactivated")
    if _suppressed(ctx, person.email) == "unsubscribed":
        return _stop(ctx, row, "unsubscribed")
    stops = {c.completed for c in [*sequence.stop_if, *step.stop_if]}
    done = events.completed_items(
        ctx.session, person.id, stops | {c.completed for c in step.skip_if}
    )
    if done & stops:
        return _stop(ctx, row, f"completed {min(done & stops)}")
    if done & {c.completed for c in step.skip_if}:
        return _skip(ctx, row, step.name, f"completed {min(done)}")
    manager = ctx.session.get(User, person.manager_id) if person.manager_id else None
    recipient = person if step.to == "person" else manager
    if recipient is None:
        return _skip(ctx, row, step.name, "no manager")
    blocked = _suppressed(ctx, recipient.email)
    if blocked:
        return _skip(ctx, row, step.name, f"{recipient.email} {blocked}")
    return _deliver(ctx, row, stored, step, person, manager, recipient)


def _template(ctx: ActionContext, row: Onboarding, stored, name: str) -> str:
    """The template's text for this person: their experiment variant's, when it replaces
    this template, else the sequence version's."""
    experiment = ctx.session.get(Experiment, row.experiment_id) if row.experiment_id else None
    override = experiments.template_text(experiment, row.variant, name)
    return override if override is not None else stored.templates[name]


def _deliver(ctx, row, stored, step, person, manager, recipient) -> dict:
    settings = mail_settings.get(ctx.session)
    server = engine.settings()
    sender = (settings.mail_from if settings else None) or server.mail_from
    org = ctx.session.get(Organisation, ctx.org_id)
    context = {
        "person": _person(person),
        "manager": _person(manager),
        "org": {"name": org.name if org else "Qylon"},
        "sequence": {"name": row.sequence, "step": step.name},
        "links": _links(ctx, person, recipient, row.sequence),
    }
    try:
        rendered = email_render.render(_template(ctx, row, stored, step.template), context)
    except (email_render.TemplateInvalid, KeyError) as exc:
        raise ActionError("invalid_input", f"template {step.template}: {exc}") from None
    msg = mail.message(
        ctx,
        {"to": recipient.email, "subject": rendered.subject, "text": rendered.text,
         "html": rendered.html},
        sender,
    )  # fmt: skip
    msg["List-Unsubscribe"] = f"<{context['links']['unsubscribe']}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    try:
        mail.deliver(ctx, msg, settings.smtp_url if settings else None)
    except mail.Rejected as exc:
        events.record(
            ctx.session,
            ctx.principal,
            recipient.id,
            domain.OnboardingBounced,
            {"email": recipient.email, "code": exc.smtp_code, "detail": exc.message},
        )
        return _skip(ctx, row, step.name, f"{recipient.email} bounced ({exc.smtp_code})")
    events.record(
        ctx.session,
        ctx.principal,
        row.user_id,
        domain.OnboardingEmailSent,
        {
            "sequence": row.sequence,
            "step": step.name,
            "to": recipient.email,
            "message_id": msg["Message-ID"],
        },
    )
    return {"sent": True, "to": recipient.email, "message_id": msg["Message-ID"]}


@action("onboarding.finish")
def finish(ctx: ActionContext, args: dict) -> dict:
    """{user_id, sequence} → {status}: completed, unless something stopped it."""
    row = _onboarding(ctx, args)
    if row.status == "running":
        events.record(
            ctx.session,
            ctx.principal,
            row.user_id,
            domain.OnboardingCompleted,
            {"sequence": row.sequence},
        )
    return {"status": row.status}
