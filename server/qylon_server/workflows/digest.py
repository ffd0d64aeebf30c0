"""The daily digest (docs/notifications.md): a person's open and overdue action items,
emailed once a day at their local hour through the organisation's relay.

Each day is one run of ``notifications.digest`` (the person's, as its actor): ``plan``
(``digest.plan``: the next digest hour in the person's time zone after ``after`` or
now; checkpointed), ``wait`` (``sleep_until`` it: a parked, durable wait that the signal
``clock`` ends early, its payload's ``now`` the time the digest is made for), ``send``
(``digest.send``) and ``next`` (``digest.next``: the next day's run, started once: its
idempotency key is this run's id). The settings (services/notifications.py) name the
current run; a run that is no longer current (the digest was switched off, its hour
changed) sends nothing and starts no successor.

``digest.send`` lists the open items whose owner is the person (their email, display
name, or given and family name, compared case-insensitively, as the server stores an
item's owner as the meeting said it), grouped by meeting, overdue ones (due before the
digest's local day) marked; nothing is sent when none is open, the person is
deactivated, or their address is suppressed (unsubscribed or bouncing). The message's
Message-ID is ``<digest.USER.DAY@DOMAIN>``: the same for a person and day on every
attempt, so a resend after a crash is recognisable.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import ActionItem, MailSuppression, Meeting, NotificationPrefs, Organisation, User
from ..services import business_days, email_render, mail_settings
from . import engine, mail
from . import service as workflows
from .actions import ActionContext, ActionError, action
from .onboarding import time_zone

DEFINITION = "notifications.digest"
VERSION = 1
DEFINITION_TEXT = f"""name: {DEFINITION}
version: {VERSION}
description: A person's daily digest of open and overdue action items (docs/notifications.md); started by the server.
input:
  user_id: {{type: string, required: true}}
  email: {{type: string, required: true}}
  after: {{type: string}}
subject: "{{{{ input.email }}}}"
steps:
  - name: plan
    action: digest.plan
    with: {{user_id: "{{{{ input.user_id }}}}", after: "{{{{ input.after | default(none) }}}}"}}
    retry: {{max_attempts: 5, initial_interval: 5s, retry_on: [unavailable]}}
  - name: wait
    if: steps.plan.output.go
    sleep_until: "{{{{ steps.plan.output.due }}}}"
  - name: send
    if: steps.plan.output.go
    action: digest.send
    with:
      user_id: "{{{{ input.user_id }}}}"
      due: "{{{{ steps.plan.output.due }}}}"
      at: "{{{{ steps.wait.output.now | default(none) }}}}"
    retry: {{max_attempts: 8, initial_interval: 30s, backoff_rate: 2, max_interval: 30m, retry_on: [unavailable]}}
  - name: next
    if: steps.plan.output.go
    action: digest.next
    with: {{user_id: "{{{{ input.user_id }}}}", after: "{{{{ steps.plan.output.due }}}}"}}
"""
TEMPLATE = """---
subject: "Your action items: {{ open }} open{% if overdue %}, {{ overdue }} overdue{% endif %}"
---
Hello {{ person.first_name }},

your open action items on {{ day }}:
{% for m in meetings %}
**{{ m.title }}** ({{ m.date }})

{% for i in m.tasks -%}
- {% if i.overdue %}**OVERDUE** {% endif %}{{ i.task }}{% if i.due %} (due {{ i.due }}){% endif %}
{% endfor %}
{% endfor %}"""
_CLIENTS: dict = {}


def client_for(session: Session):
    """A DBOS client on the session's database (a request's process has no engine)."""
    bind = session.get_bind()
    bound = getattr(bind, "engine", bind)
    made = _CLIENTS.get(bound)
    if made is None:
        made = _CLIENTS[bound] = engine.client(type("Db", (), {"engine": bound})())
    return made


def start(session: Session, principal, user: User, key: str, after: str | None = None) -> str:
    """Start a digest run for ``user`` (the definition is stored once per organisation)."""
    workflows.ship(session, principal, DEFINITION, VERSION, DEFINITION_TEXT)
    inputs = {"user_id": user.id, "email": user.email}
    if after:
        inputs["after"] = after
    run, _ = workflows.start(
        session, principal, client_for(session),
        name=DEFINITION, inputs=inputs, version=VERSION, idempotency_key=key,
    )  # fmt: skip
    return run.id


def new_key(user: User) -> str:
    return f"digest.{user.id}.{uuid.uuid4().hex[:12]}"


def _current(ctx: ActionContext, user_id) -> NotificationPrefs | None:
    """The person's settings when this run is their daily digest's current run."""
    prefs = ctx.session.get(NotificationPrefs, (ctx.org_id, user_id))
    if prefs is None or prefs.digest != "daily" or prefs.digest_run_id != ctx.run_id:
        return None
    return prefs


def _time(value, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise ActionError("invalid_input", f"{name}: {value!r} is not an ISO 8601 time") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def next_due(after: datetime, hour: int, zone_name: str) -> datetime:
    """The first ``hour``:00 in ``zone_name`` strictly after ``after``."""
    tz = business_days.zone(zone_name)
    day = after.astimezone(tz).date()
    due = business_days.local(day, time(hour), tz)
    if due <= after:
        due = business_days.local(day + timedelta(days=1), time(hour), tz)
    return due.astimezone(UTC)


@action("digest.plan")
def plan(ctx: ActionContext, args: dict) -> dict:
    """{user_id, after?} → {go, due?, time_zone?, reason?}"""
    prefs = _current(ctx, args.get("user_id"))
    user = ctx.session.get(User, args.get("user_id"))
    if prefs is None or user is None:
        return {"go": False, "reason": "not the current digest"}
    zone = time_zone(user, mail_settings.get(ctx.session))
    after = _time(args["after"], "after") if args.get("after") else datetime.now(UTC)
    try:
        due = next_due(after, prefs.digest_hour, zone)
    except business_days.UnknownZone as exc:
        raise ActionError("invalid_input", str(exc)) from None
    return {"go": True, "due": due.isoformat(), "time_zone": zone}


def items_for(session: Session, user: User) -> list[tuple[ActionItem, Meeting]]:
    """The open action items the person owns, with their meetings (oldest meeting first)."""
    full = " ".join(p for p in (user.given_name, user.family_name) if p)
    names = {n.strip().lower() for n in (user.email, user.display_name, full) if n and n.strip()}
    rows = session.execute(
        select(ActionItem, Meeting)
        .join(
            Meeting, (Meeting.org_id == ActionItem.org_id) & (Meeting.id == ActionItem.meeting_id)
        )
        .where(ActionItem.status == "open", func.lower(ActionItem.owner).in_(sorted(names)))
        .order_by(Meeting.created_at, Meeting.id, ActionItem.due, ActionItem.id)
    )
    return [(item, meeting) for item, meeting in rows]


def context(user: User, rows, day: str) -> dict:
    """The template's context: the items grouped by meeting, overdue ones marked."""
    meetings: dict[str, dict] = {}
    overdue = 0
    for item, meeting in rows:
        late = bool(item.due) and item.due < day
        overdue += late
        group = meetings.setdefault(
            meeting.id,
            {"title": meeting.title, "date": meeting.created_at.date().isoformat(), "tasks": []},
        )
        group["tasks"].append({"task": item.task, "due": item.due, "overdue": late})
    name = user.display_name or " ".join(p for p in (user.given_name, user.family_name) if p)
    first = user.given_name or (name.split()[0] if name else user.email)
    return {
        "person": {"email": user.email, "first_name": first, "name": name or user.email},
        "meetings": list(meetings.values()),
        "open": len(rows),
        "overdue": overdue,
        "day": day,
    }


def unsubscribe_link(ctx: ActionContext, user: User, kind: str = "digest") -> str:
    from .. import links

    link = links.Link("unsubscribe", ctx.org_id, user.id, kind)
    return links.url(engine.settings(), link, "/p/unsubscribe")


def blocked(ctx: ActionContext, user: User) -> str | None:
    """Why nothing may be mailed to ``user`` (deactivated, unsubscribed, bouncing), or None."""
    if user.status == "deactivated":
        return "deactivated"
    row = ctx.session.get(MailSuppression, (ctx.org_id, user.email))
    return row.reason if row is not None else None


def mail_person(ctx: ActionContext, user: User, settings, rendered, local: str, unsubscribe: str):
    """Send ``rendered`` to ``user`` from the organisation's sender with the stable
    ``Message-ID: <LOCAL@DOMAIN>`` and the one-click unsubscribe headers; the Message-ID,
    or raises mail.Rejected (a 5xx) / ActionError (retried)."""
    sender = (settings.mail_from if settings else None) or engine.settings().mail_from
    msg = mail.message(
        ctx,
        {"to": user.email, "subject": rendered.subject, "text": rendered.text,
         "html": rendered.html},
        sender,
    )  # fmt: skip
    del msg["Message-ID"]
    msg["Message-ID"] = f"<{local}@{sender.rpartition('@')[2] or 'localhost'}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.deliver(ctx, msg, settings.smtp_url if settings else None)
    return msg["Message-ID"]


@action("digest.send")
def send(ctx: ActionContext, args: dict) -> dict:
    """{user_id, due, at?} → {sent, to?, message_id?, open?, overdue?, reason?}"""
    prefs = _current(ctx, args.get("user_id"))
    user = ctx.session.get(User, args.get("user_id"))
    if prefs is None or user is None:
        return {"sent": False, "reason": "not the current digest"}
    reason = blocked(ctx, user)
    if reason is not None:
        return {"sent": False, "reason": reason}
    settings = mail_settings.get(ctx.session)
    at = _time(args.get("at") or args["due"], "at")
    day = at.astimezone(business_days.zone(time_zone(user, settings))).date().isoformat()
    rows = items_for(ctx.session, user)
    if not rows:
        return {"sent": False, "reason": "nothing open", "day": day}
    org = ctx.session.get(Organisation, ctx.org_id)
    unsubscribe = unsubscribe_link(ctx, user)
    values = {
        **context(user, rows, day),
        "org": {"name": org.name if org else "Qylon"},
        "links": {"unsubscribe": unsubscribe},
        "mail": {"kind": "daily digest"},
    }
    rendered = email_render.render(TEMPLATE, values)
    try:
        message_id = mail_person(
            ctx, user, settings, rendered, f"digest.{user.id}.{day}", unsubscribe
        )
    except mail.Rejected as exc:
        return {"sent": False, "reason": f"{user.email} bounced ({exc.smtp_code})", "day": day}
    return {
        "sent": True,
        "to": user.email,
        "message_id": message_id,
        "day": day,
        "open": values["open"],
        "overdue": values["overdue"],
    }


@action("digest.next")
def next_run(ctx: ActionContext, args: dict) -> dict:
    """{user_id, after} → {run_id}: the next day's run (none when this one is no longer
    current), started once whatever the retries."""
    prefs = _current(ctx, args.get("user_id"))
    user = ctx.session.get(User, args.get("user_id"))
    if prefs is None or user is None or user.status == "deactivated":
        return {"run_id": None}
    run_id = start(ctx.session, ctx.principal, user, f"digest.next.{ctx.run_id}", args.get("after"))
    prefs.digest_run_id = run_id
    ctx.session.flush()
    return {"run_id": run_id}
