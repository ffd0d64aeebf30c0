"""Per-event email notifications (docs/notifications.md): a person chooses event types
that email them when the event is about them; an admin sets the organisation's defaults,
which apply to whoever has chosen nothing.

``TYPES`` are the events whose "about me" is well defined from the event and the rows it
names: ``meeting.stored`` (the meeting has an open action item the person owns: matched
as the digest matches owners), ``compliance.item_assigned`` and
``compliance.item_escalated`` (the item is the person's). ``on_event`` (a
``store.listen`` listener, as workflows/webhooks.py) starts one durable run of
``notifications.event`` per person and event, in the event's transaction, acting as the
event's actor (an event without one mails nobody); its idempotency key is
``notify.EVENT.USER``. The run's step ``notify.send`` checks the person still wants it
and may be mailed (digest.blocked), renders the email and sends it through the
organisation's relay with ``Message-ID: <notify.EVENT.USER@DOMAIN>`` and the unsubscribe
link and headers (digest.mail_person).
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..events import domain, listener_config, store
from ..models import ActionItem, ComplianceItem, Meeting, NotificationPrefs, Organisation, User
from ..services import email_render, mail_settings
from . import digest, mail
from . import service as workflows
from .actions import ActionContext, action

TYPES = ("meeting.stored", "compliance.item_assigned", "compliance.item_escalated")
DEFINITION = "notifications.event"
VERSION = 1
DEFINITION_TEXT = f"""name: {DEFINITION}
version: {VERSION}
description: One email to a person about an event (docs/notifications.md); started by the server.
input:
  user_id: {{type: string, required: true}}
  event_id: {{type: string, required: true}}
  type: {{type: string, required: true}}
  subject: {{type: string, required: true}}
  item_id: {{type: string}}
subject: "{{{{ input.subject }}}}"
steps:
  - name: send
    action: notify.send
    with:
      user_id: "{{{{ input.user_id }}}}"
      event_id: "{{{{ input.event_id }}}}"
      type: "{{{{ input.type }}}}"
      subject: "{{{{ input.subject }}}}"
      item_id: "{{{{ input.item_id | default(none) }}}}"
    retry: {{max_attempts: 8, initial_interval: 30s, backoff_rate: 2, max_interval: 30m, retry_on: [unavailable]}}
"""
TEMPLATES = {
    "meeting.stored": """---
subject: "Action items for you: {{ meeting.title }}"
---
Hello {{ person.first_name }},

**{{ meeting.title }}** ({{ meeting.date }}) has action items for you:

{% for i in tasks -%}
- {{ i.task }}{% if i.due %} (due {{ i.due }}){% endif %}
{% endfor %}""",
    "compliance.item_assigned": """---
subject: "New compliance item: {{ item.title }}"
---
Hello {{ person.first_name }},

**{{ item.title }}** is yours to complete by {{ item.due_date }}.""",
    "compliance.item_escalated": """---
subject: "Overdue compliance item: {{ item.title }}"
---
Hello {{ person.first_name }},

**{{ item.title }}** was due on {{ item.due_date }} and is not complete yet.""",
}


def wanted(session: Session, user_id: str) -> list[str]:
    """The event types that email ``user_id``: theirs, else the organisation's defaults."""
    prefs = session.get(NotificationPrefs, (session.info["org_id"], user_id))
    if prefs is not None and prefs.events is not None:
        return list(prefs.events)
    return defaults(session)


_WANTED = "event_mail.wanted"  # listener_config: (the defaults, whether anyone chose)


def defaults(session: Session) -> list[str]:
    settings = mail_settings.get(session)
    return list(settings.notify_events or []) if settings else []


def _owners_of(session: Session, meeting_id: str) -> list[User]:
    """The active people who own an open action item of the meeting."""
    owners = {
        o.strip().lower()
        for o in session.scalars(
            select(ActionItem.owner).where(
                ActionItem.meeting_id == meeting_id, ActionItem.status == "open"
            )
        )
        if o and o.strip()
    }
    if not owners:
        return []
    names = sorted(owners)
    full = func.lower(User.given_name + " " + User.family_name)
    return list(
        session.scalars(
            select(User)
            .where(User.status != "deactivated")
            .where(
                or_(
                    func.lower(User.email).in_(names),
                    func.lower(User.display_name).in_(names),
                    full.in_(names),
                )
            )
            .order_by(User.id)
        )
    )


def about(session: Session, event: domain.Event) -> tuple[list[str], str | None]:
    """The ids of the people the event is about, and the compliance item it names."""
    kind = type(event).TYPE
    if kind == "meeting.stored":
        return [u.id for u in _owners_of(session, event.stream.partition(":")[2])], None
    data = event.data or {}
    item_id = data.get("item_id")
    if not item_id:
        return [], None
    if kind == "compliance.item_assigned":  # its row is projected after the listeners
        return ([data["user_id"]] if data.get("user_id") else []), item_id
    item = session.get(ComplianceItem, item_id)
    return ([item.user_id], item.id) if item is not None else ([], None)


def forget(session: Session) -> None:
    """Read the defaults and choices again (they changed in this transaction)."""
    listener_config.forget(session)


def _anyone(session: Session, kind: str) -> bool:
    """Whether the type could mail anyone: in the defaults, or someone chose types. Kept
    per process until either changes (events/listener_config.py): every upload asks."""

    def load() -> tuple[frozenset[str], bool]:
        chosen = select(NotificationPrefs.user_id).where(NotificationPrefs.events.is_not(None))
        return frozenset(defaults(session)), session.scalar(chosen.limit(1)) is not None

    in_defaults, someone_chose = listener_config.cached(session, _WANTED, load)
    return kind in in_defaults or someone_chose


def on_event(session: Session, event: domain.Event) -> None:
    """The listener: a run per person the event is about who wants its type mailed."""
    kind = type(event).TYPE
    if not event.actor or not _anyone(session, kind):
        return
    people, item_id = about(session, event)
    people = [p for p in people if kind in wanted(session, p)]
    if not people:
        return
    principal = workflows.event_actor(session, event)
    if principal is None:
        return
    workflows.ship(session, principal, DEFINITION, VERSION, DEFINITION_TEXT)
    for user_id in people:
        inputs = {"user_id": user_id, "event_id": event.event_id, "type": kind}
        inputs["subject"] = event.stream
        if item_id:
            inputs["item_id"] = item_id
        workflows.start(
            session, principal, digest.client_for(session),
            name=DEFINITION, inputs=inputs, version=VERSION,
            idempotency_key=f"notify.{event.event_id}.{user_id}",
        )  # fmt: skip


def _values(ctx: ActionContext, user: User, kind: str, args: dict) -> dict | None:
    """The template's context, or None when there is nothing left to say."""
    person = digest.context(user, [], "")["person"]
    if kind == "meeting.stored":
        meeting_id = str(args["subject"]).partition(":")[2]
        meeting = ctx.session.get(Meeting, (ctx.org_id, meeting_id))
        rows = [(i, m) for i, m in digest.items_for(ctx.session, user) if m.id == meeting_id]
        if meeting is None or not rows:
            return None
        tasks = [{"task": i.task, "due": i.due} for i, _ in rows]
        date = meeting.created_at.date().isoformat()
        return {"person": person, "meeting": {"title": meeting.title, "date": date}, "tasks": tasks}
    item = ctx.session.get(ComplianceItem, args.get("item_id") or "")
    if item is None or item.user_id != user.id:
        return None
    return {"person": person, "item": {"title": item.title, "due_date": item.due_date}}


@action("notify.send")
def send(ctx: ActionContext, args: dict) -> dict:
    """{user_id, event_id, type, subject, item_id?} → {sent, to?, message_id?, reason?}"""
    user = ctx.session.get(User, args.get("user_id"))
    kind = args.get("type")
    if user is None or kind not in TYPES:
        return {"sent": False, "reason": "no such person or event type"}
    if kind not in wanted(ctx.session, user.id):
        return {"sent": False, "reason": "not wanted"}
    reason = digest.blocked(ctx, user)
    if reason is not None:
        return {"sent": False, "reason": reason}
    values = _values(ctx, user, kind, args)
    if values is None:
        return {"sent": False, "reason": "nothing about them"}
    org = ctx.session.get(Organisation, ctx.org_id)
    unsubscribe = digest.unsubscribe_link(ctx, user, "notifications")
    values |= {
        "org": {"name": org.name if org else "Qylon"},
        "links": {"unsubscribe": unsubscribe},
        "mail": {"kind": "notifications"},
    }
    rendered = email_render.render(TEMPLATES[kind], values)
    settings = mail_settings.get(ctx.session)
    local = f"notify.{args['event_id']}.{user.id}"
    try:
        message_id = digest.mail_person(ctx, user, settings, rendered, local, unsubscribe)
    except mail.Rejected as exc:
        return {"sent": False, "reason": f"{user.email} bounced ({exc.smtp_code})"}
    return {"sent": True, "to": user.email, "message_id": message_id}


def install() -> None:
    for kind in TYPES:
        store.listen(kind, on_event)


install()
