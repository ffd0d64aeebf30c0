"""/v1/webhooks and /v1/webhook-deliveries: an organisation's webhook subscriptions, their
deliveries and each delivery's attempts (docs/webhooks.md). Admins only
(``webhooks:admin``); every change audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from qylon_cli.schemas_webhooks import (
    WebhookAttemptInfo,
    WebhookCreate,
    WebhookDeliveryInfo,
    WebhookDeliveryList,
    WebhookInfo,
    WebhookList,
    WebhookUpdate,
)

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..workflows import webhooks

router = APIRouter(tags=["webhooks"], responses=ERROR_RESPONSES)
Id = Annotated[str, Path(max_length=40)]
ADMIN = "webhooks:admin"


def info(row, secret: str | None = None) -> WebhookInfo:
    out = WebhookInfo.model_validate(row, from_attributes=True)
    out.secret = secret
    return out


def delivery_out(row, log=()) -> WebhookDeliveryInfo:
    return WebhookDeliveryInfo(
        id=row.id,
        webhook_id=row.subscription_id,
        event_type=row.event_type,
        event_id=row.event_id,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        run_id=row.run_id,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        payload=row.payload,
        log=[WebhookAttemptInfo.model_validate(a, from_attributes=True) for a in log],
    )


@router.get("/v1/webhooks", response_model=WebhookList)
def list_webhooks(ctx: Allowed(ADMIN)) -> WebhookList:
    """The organisation's webhooks (never their secrets), and the event types offered."""
    rows = webhooks.listing(ctx.session)
    return WebhookList(items=[info(r) for r in rows], event_types=list(webhooks.TYPES))


@router.post("/v1/webhooks", status_code=201, response_model=WebhookInfo)
def create_webhook(body: WebhookCreate, ctx: Allowed(ADMIN), request: Request) -> WebhookInfo:
    """Subscribe an endpoint to event types. The answer holds the signing secret: the
    only time it is shown (rotate it to get a new one)."""
    row, secret = webhooks.create(
        ctx.session,
        ctx.principal,
        request.app.state.settings,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
    )
    return info(row, secret)


@router.get("/v1/webhooks/{webhook_id}", response_model=WebhookInfo)
def read_webhook(webhook_id: Id, ctx: Allowed(ADMIN)) -> WebhookInfo:
    return info(webhooks.get(ctx.session, webhook_id))


@router.patch("/v1/webhooks/{webhook_id}", response_model=WebhookInfo)
def update_webhook(
    webhook_id: Id, body: WebhookUpdate, ctx: Allowed(ADMIN), request: Request
) -> WebhookInfo:
    """Change the URL, the event types, the description, or enable or disable it."""
    row = webhooks.get(ctx.session, webhook_id)
    changes = body.model_dump(exclude_unset=True)
    settings = request.app.state.settings
    return info(webhooks.update(ctx.session, ctx.principal, settings, row, changes))


@router.delete("/v1/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: Id, ctx: Allowed(ADMIN)) -> Response:
    """Delete it with its deliveries; runs still retrying send nothing more."""
    webhooks.delete(ctx.session, ctx.principal, webhooks.get(ctx.session, webhook_id))
    return Response(status_code=204)


@router.post("/v1/webhooks/{webhook_id}/rotate-secret", response_model=WebhookInfo)
def rotate_secret(webhook_id: Id, ctx: Allowed(ADMIN), request: Request) -> WebhookInfo:
    """A new signing secret, shown this once; the old one signs nothing more."""
    row = webhooks.get(ctx.session, webhook_id)
    secret = webhooks.rotate(ctx.session, ctx.principal, request.app.state.settings, row)
    return info(row, secret)


@router.post("/v1/webhooks/{webhook_id}/test", status_code=202, response_model=WebhookDeliveryInfo)
def test_webhook(webhook_id: Id, ctx: Allowed(ADMIN)) -> WebhookDeliveryInfo:
    """Send a `webhook.test` event (queued: follow it in the deliveries)."""
    row = webhooks.get(ctx.session, webhook_id)
    return delivery_out(webhooks.test(ctx.session, ctx.principal, row))


@router.get("/v1/webhooks/{webhook_id}/deliveries", response_model=WebhookDeliveryList)
def list_deliveries(
    webhook_id: Id,
    ctx: Allowed(ADMIN),
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> WebhookDeliveryList:
    """The newest deliveries, each with its attempts (time, status, duration, error, the
    start of the answer)."""
    rows = webhooks.deliveries(ctx.session, webhooks.get(ctx.session, webhook_id), limit=limit)
    logs = webhooks.attempts(ctx.session, [r.id for r in rows])
    return WebhookDeliveryList(items=[delivery_out(r, logs[r.id]) for r in rows])


@router.get("/v1/webhook-deliveries/{delivery_id}", response_model=WebhookDeliveryInfo)
def read_delivery(delivery_id: Id, ctx: Allowed(ADMIN)) -> WebhookDeliveryInfo:
    row = webhooks.delivery(ctx.session, delivery_id)
    return delivery_out(row, webhooks.attempts(ctx.session, [row.id])[row.id])


@router.post(
    "/v1/webhook-deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=WebhookDeliveryInfo,
)
def redeliver(delivery_id: Id, ctx: Allowed(ADMIN)) -> WebhookDeliveryInfo:
    """Send it again: the same webhook-id and body, a new attempt in its log."""
    row = webhooks.delivery(ctx.session, delivery_id)
    return delivery_out(webhooks.redeliver(ctx.session, ctx.principal, row))
