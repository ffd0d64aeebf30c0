"""Webhooks (docs/webhooks.md): an organisation's subscriptions to event types, and the
deliveries the event store's appends make of them.

When an event of a subscribed type is appended, ``on_event`` (a ``store.listen``
listener, installed at import like services/experiment_goals.py) records a delivery per
enabled subscription and starts its workflow run (``webhook.deliver``, one run per
delivery) in the same transaction: the event, the delivery and the queued run commit
together or not at all. The run's one step (workflows/webhook_send.py) posts the signed
body, retried with exponential backoff over about eight hours. Runs act as the person
who made the subscription (their key's id is kept for it).

Only the events of ``TYPES`` can be subscribed to; ``workflow_run.finished`` of the
delivery runs themselves never makes a delivery (a failing endpoint would feed itself),
nor does that of the server's overdue timers (workflows/overdue.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..deps import ActorNotFound, principal_for
from ..errors import ApiError, not_found
from ..events import domain, listener_config, store
from ..models import FlowRun, WebhookAttempt, WebhookDelivery, WebhookSubscription, now
from ..services import audit
from . import engine, overdue
from . import service as workflows
from . import webhook_send as send

TYPES = (
    "meeting.stored",  # a meeting synced (data: created, client_id, action_items, ...)
    "meeting.deleted",
    "action_item.created",  # an item a stored meeting did not have before
    "action_item.overdue",  # its due date has passed and it is still open
    "client.created",
    "user.created",  # invited, provisioned (CSV, bulk) or by SCIM
    "user.deactivated",
    "user.reactivated",
    "user.role_changed",
    "workflow_run.finished",  # data.status: completed, failed, cancelled, timed_out, ...
    "compliance.item_assigned",
    "compliance.item_completed",
    "compliance.item_overdue",  # still open after its due day
    "compliance.item_escalated",  # its reminder or its escalation went out
    "compliance.item_withdrawn",
    "onboarding.started",
    "onboarding.completed",
    "onboarding.stopped",
    "onboarding.bounced",
)
TEST = "webhook.test"
DEFINITION = "webhook.deliver"
VERSION = 1
MAX_ATTEMPTS = 12  # 30s, 1m, 2m, ... 64m, then every 2h: the last about 8 hours after the first
DEFINITION_TEXT = f"""name: {DEFINITION}
version: {VERSION}
description: Deliver one webhook (docs/webhooks.md); started by the server.
input:
  delivery_id: {{type: string, required: true}}
subject: "{{{{ input.delivery_id }}}}"
steps:
  - name: deliver
    action: webhook.deliver
    with: {{delivery_id: "{{{{ input.delivery_id }}}}"}}
    timeout: 1m
    retry:
      max_attempts: {MAX_ATTEMPTS}
      initial_interval: 30s
      backoff_rate: 2
      max_interval: 2h
      retry_on: [unavailable]
"""
_SUBSCRIBED = "webhooks.subscribed"  # listener_config: the enabled subscriptions (Subscribed)
_CLIENTS: dict = {}


def _invalid(message: str, hint: str | None = None) -> ApiError:
    return ApiError(422, message, code="invalid_input", hint=hint)


def _types(given: list[str]) -> list[str]:
    if not given:
        raise _invalid("Name at least one event type.", hint=f"Types: {', '.join(TYPES)}.")
    unknown = sorted(set(given) - set(TYPES))
    if unknown:
        raise _invalid(
            f"Unknown event type(s): {', '.join(unknown)}.", hint=f"Types: {', '.join(TYPES)}."
        )
    return sorted(set(given))


def _url(url: str, allow: str) -> str:
    try:
        send.check(url, allow, resolve=False)
    except send.Refused as exc:
        raise ApiError(422, exc.message, code=exc.code, hint=f"See {send.SETTING}.") from None
    return url


def _definition(session: Session, principal) -> None:
    """The delivery runs' definition, stored in the organisation once."""
    workflows.ship(session, principal, DEFINITION, VERSION, DEFINITION_TEXT)


# -- subscriptions ---------------------------------------------------------------------------


def listing(session: Session) -> list[WebhookSubscription]:
    return list(
        session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.created_at))
    )


def get(session: Session, sub_id: str) -> WebhookSubscription:
    row = session.get(WebhookSubscription, sub_id) if len(sub_id) <= 36 else None
    if row is None:
        raise not_found("Webhook")
    return row


def create(
    session: Session, principal, settings, *, url: str, event_types: list[str], description=None
) -> tuple[WebhookSubscription, str]:
    """A subscription and its secret (shown this once)."""
    secret = send.new_secret()
    row = WebhookSubscription(
        url=_url(url, settings.webhook_allow),
        event_types=_types(event_types),
        description=description,
        secret=send.seal(secret, settings.pepper()),
        enabled=True,
        created_by=principal.user.id,
        created_key=principal.key.id,
    )
    session.add(row)
    session.flush()
    _definition(session, principal)
    _audit(session, principal, "webhook.create", row, {"url": row.url, "types": row.event_types})
    return row, secret


def update(session: Session, principal, settings, row: WebhookSubscription, changes: dict):
    if changes.get("url") is not None:
        row.url = _url(changes["url"], settings.webhook_allow)
    if changes.get("event_types") is not None:
        row.event_types = _types(changes["event_types"])
    if "description" in changes:
        row.description = changes["description"]
    if changes.get("enabled") is not None:
        row.enabled = bool(changes["enabled"])
        row.disabled_reason = None if row.enabled else "disabled by an admin"
    row.updated_at = now()
    session.flush()
    _audit(session, principal, "webhook.update", row, {"changed": sorted(changes)})
    return row


def rotate(session: Session, principal, settings, row: WebhookSubscription) -> str:
    """A new secret (shown this once); the old one signs nothing from now on."""
    secret = send.new_secret()
    row.secret, row.updated_at = send.seal(secret, settings.pepper()), now()
    session.flush()
    _audit(session, principal, "webhook.rotate_secret", row, {})
    return secret


def delete(session: Session, principal, row: WebhookSubscription) -> None:
    _audit(session, principal, "webhook.delete", row, {"url": row.url})
    session.delete(row)
    session.flush()


def _audit(session, principal, action: str, row, detail: dict) -> None:
    audit.record(session, principal, action, target_type="webhook", target_id=row.id, detail=detail)


# -- deliveries ------------------------------------------------------------------------------


def _client_for(session: Session):
    """A DBOS client on the session's database (the request's process has no engine)."""
    bind = session.get_bind()
    bound = getattr(bind, "engine", bind)
    made = _CLIENTS.get(bound)
    if made is None:
        made = _CLIENTS[bound] = engine.client(type("Db", (), {"engine": bound})())
    return made


def _start(session: Session, principal, delivery: WebhookDelivery, key: str) -> None:
    _definition(session, principal)
    run, _ = workflows.start(
        session,
        principal,
        _client_for(session),
        name=DEFINITION,
        inputs={"delivery_id": delivery.id},
        version=VERSION,
        idempotency_key=key,
    )
    delivery.run_id = run.id


def _deliver(session: Session, sub: WebhookSubscription, kind: str, data: dict, **about):
    """A delivery of ``data`` as an event of ``kind`` to ``sub``, and its run."""
    stamp = about.pop("timestamp", None) or datetime.now(UTC)
    principal = principal_for(session, sub.created_by, sub.created_key)  # before any row
    delivery = WebhookDelivery(
        id=f"msg_{uuid.uuid4().hex}",
        subscription_id=sub.id,
        event_type=kind,
        payload={"type": kind, "timestamp": stamp.isoformat(), "data": data},
        status="pending",
        attempts=0,
        **about,
    )
    session.add(delivery)
    session.flush()
    _start(session, principal, delivery, f"webhook.{delivery.id}")
    return delivery


class Subscribed(NamedTuple):
    """What a delivery needs of an enabled subscription (kept between transactions:
    not the row)."""

    id: str
    event_types: frozenset[str]
    created_by: str
    created_key: str


_SUBSCRIBED_QUERY = (
    select(
        WebhookSubscription.id,
        WebhookSubscription.event_types,
        WebhookSubscription.created_by,
        WebhookSubscription.created_key,
    )
    .where(WebhookSubscription.enabled.is_(True))
    .order_by(WebhookSubscription.created_at)
)


def _subscribed(session: Session) -> tuple[Subscribed, ...]:
    def load() -> tuple[Subscribed, ...]:
        rows = session.execute(_SUBSCRIBED_QUERY)
        return tuple(Subscribed(i, frozenset(t or ()), by, key) for i, t, by, key in rows)

    return listener_config.cached(session, _SUBSCRIBED, load)


def forget(session: Session) -> None:
    listener_config.forget(session)


def _own_run(session: Session, event: domain.Event) -> bool:
    if type(event).TYPE != "workflow_run.finished":
        return False
    run = session.get(FlowRun, event.stream.partition(":")[2])
    return run is None or run.name in (DEFINITION, overdue.DEFINITION)


def on_event(session: Session, event: domain.Event) -> None:
    """The listener: a delivery (and its run) per enabled subscription to the type."""
    kind = type(event).TYPE
    wanted = [s for s in _subscribed(session) if kind in s.event_types]
    if not wanted or _own_run(session, event):
        return
    data = {**(event.data or {}), "event_id": event.event_id, "subject": event.stream}
    for sub in wanted:
        try:
            _deliver(session, sub, kind, data, event_id=event.event_id, timestamp=event.timestamp)
        except ActorNotFound:  # its maker has left: nothing is sent until an admin re-creates it
            row = session.get(WebhookSubscription, sub.id)
            row.enabled, row.disabled_reason = False, "the person who made it is deactivated"


def test(session: Session, principal, row: WebhookSubscription) -> WebhookDelivery:
    """A ``webhook.test`` delivery to an enabled subscription, signed and retried as any."""
    if not row.enabled:
        raise ApiError(409, "The webhook is disabled.", code="conflict", hint="Enable it first.")
    delivery = _deliver(
        session, row, TEST, {"webhook_id": row.id, "message": "A test event from Qylon."}
    )
    _audit(session, principal, "webhook.test", row, {"delivery_id": delivery.id})
    return delivery


def deliveries(session: Session, row: WebhookSubscription, *, limit: int = 50):
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == row.id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(limit)
        )
    )


def delivery(session: Session, delivery_id: str) -> WebhookDelivery:
    row = session.get(WebhookDelivery, delivery_id) if len(delivery_id) <= 40 else None
    if row is None:
        raise not_found("Webhook delivery")
    return row


def attempts(session: Session, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    found: dict[str, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    rows = session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.at, WebhookAttempt.id)
    )
    for row in rows:
        found[row.delivery_id].append(row)
    return found


def redeliver(session: Session, principal, row: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (the same ``webhook-id`` and body), in a run of its own."""
    sub = get(session, row.subscription_id)
    if not sub.enabled:
        raise ApiError(409, "The webhook is disabled.", code="conflict", hint="Enable it first.")
    row.status = "pending"
    _start(session, principal, row, f"webhook.{row.id}.{uuid.uuid4().hex[:12]}")
    session.flush()
    _audit(session, principal, "webhook.redeliver", sub, {"delivery_id": row.id})
    return row


def last_attempt(session: Session, run_id: str) -> bool:
    """Whether the attempt under way in ``run_id`` is its last (the retries are spent)."""
    done = session.scalar(
        select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.run_id == run_id)
    )
    return (done or 0) + 1 >= MAX_ATTEMPTS


def install() -> None:
    for kind in TYPES:
        store.listen(kind, on_event)


install()
