"""Sending webhooks: where they may go, their signing secret, one signed request, and the
``webhook.deliver`` action a delivery's workflow run repeats (docs/webhooks.md).

Where: an endpoint is ``https://`` to a public address. A host or URL prefix listed in
``QYLON_WEBHOOK_ALLOW`` (the syntax of ``QYLON_WORKFLOW_HTTP_ALLOW``, workflows/http.py)
may also be ``http://`` and private (a loopback receiver, an internal relay). Every other
address that is loopback, private, link-local (cloud metadata), reserved or multicast is
refused, when the subscription is made and again before each request (a name may resolve
elsewhere by then). Redirects are not followed.

Signing: the Standard Webhooks scheme (``standardwebhooks``): ``webhook-id`` (the
delivery's id, the same on every attempt), ``webhook-timestamp`` (this attempt's time) and
``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``). The secret
(``whsec_`` + base64 of 32 random bytes) is kept sealed (Fernet) under a key derived from
the server's secret key, so a copy of the database alone does not sign.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import socket
import time
from datetime import UTC, datetime

from .. import sealing
from ..db import Database
from ..models import WebhookAttempt, WebhookDelivery, WebhookSubscription, now
from ..tenancy import org_session
from . import engine, http
from .actions import ActionContext, ActionError, action

SETTING = "QYLON_WEBHOOK_ALLOW"
TIMEOUT_S = 15.0  # one request
EXCERPT = 500  # characters of an answer's body kept in the log
RETRIED = (408, 429)  # 4xx answers that are retried (with 5xx and no answer)


class Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# -- where -------------------------------------------------------------------------------------


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _addresses(host: str) -> list[str]:
    try:
        return [ipaddress.ip_address(host.strip("[]")).compressed]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused("unavailable", f"{host}: the name does not resolve ({exc})") from None
    return sorted({info[4][0] for info in found})


def check(url_text: str, allow: str, *, resolve: bool = True):
    """The parsed endpoint when webhooks may go there; ``Refused`` (``invalid_input``,
    ``not_allowed``; ``unavailable`` when its name does not resolve, which a subscription
    made ahead of its DNS may still be, so ``resolve=False`` there)."""
    import httpx2

    try:
        url = httpx2.URL(url_text)
    except Exception as exc:  # noqa: BLE001
        raise Refused("invalid_input", f"url: not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise Refused("invalid_input", "url: an absolute https:// URL is needed")
    if url.userinfo:
        raise Refused("invalid_input", "url: credentials in the URL are refused")
    if url.fragment:
        raise Refused("invalid_input", "url: a #fragment is refused")
    try:
        entries = http.parse_allow(allow)
    except ValueError as exc:
        raise Refused("not_allowed", str(exc).replace(http.SETTING, SETTING)) from None
    host, port = url.host.lower(), url.port or (443 if url.scheme == "https" else 80)
    if any(entry.matches(url.scheme, host, port, url.path) for entry in entries):
        return url
    if url.scheme != "https":
        raise Refused(
            "invalid_input", f"url: https:// is needed (http:// only to hosts in {SETTING})"
        )
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise Refused("not_allowed", f"{host} is not a public address (see {SETTING})")
    try:
        literal = [ipaddress.ip_address(host.strip("[]")).compressed]
    except ValueError:
        literal = None
    for address in literal or (_addresses(host) if resolve else []):
        if not _public(address):
            raise Refused(
                "not_allowed", f"{host} is {address}, not a public address (see {SETTING})"
            )
    return url


# -- the secret -------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


PURPOSE = b"qylon-webhooks-v1"


def seal(secret: str, pepper: bytes) -> str:
    return sealing.seal(secret, pepper, PURPOSE)


def unseal(sealed: str, pepper: bytes) -> str:
    try:
        return sealing.unseal(sealed, pepper, PURPOSE)
    except sealing.Broken:
        raise ActionError(
            "not_configured",
            "the subscription's secret was sealed under another QYLON_SECRET_KEY: rotate it",
        ) from None


# -- one request ------------------------------------------------------------------------------


def body_of(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def headers(secret: str, delivery_id: str, body: str, at: datetime) -> dict[str, str]:
    from standardwebhooks import Webhook

    return {
        "content-type": "application/json",
        "user-agent": "Qylon-Webhooks/1",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(delivery_id, at, body),
    }


def post(url, body: str, signed: dict, timeout: float) -> dict:
    """One POST: {status, duration_ms, response, error}; status None when no answer came."""
    import httpx2

    started = time.monotonic()
    out = {"status": None, "response": None, "error": None}
    try:
        with httpx2.Client(timeout=timeout, follow_redirects=False) as client:
            answer = client.post(url, content=body.encode(), headers=signed)
        out["status"] = answer.status_code
        out["response"] = answer.content[:2000].decode("utf-8", errors="replace")[:EXCERPT]
    except httpx2.TimeoutException:
        out["error"] = f"no answer within {timeout:.0f}s"
    except httpx2.TransportError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    out["duration_ms"] = int((time.monotonic() - started) * 1000)
    return out


_LOG_DBS: dict[str, Database] = {}


def _log_database() -> Database:
    """The attempt log's own connections. An attempt writes its log while its step's
    session holds one of the engine's connections: drawn from the same pool, the second
    connection deadlocks the server once more deliveries run at once than the pool has
    connections (each holds one and waits for another: the suite once left that many queued)."""
    url = engine.database().url
    if url not in _LOG_DBS:
        _LOG_DBS[url] = Database(url, pool_size=2)
    return _LOG_DBS[url]


def _log(org_id: str, delivery_id: str, run_id: str, sent: dict, status: str, **more) -> None:
    """The attempt and the delivery's state, in a transaction of their own: a failing
    attempt's step is rolled back, its log must stay."""
    with org_session(_log_database(), org_id) as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:  # deleted with its webhook meanwhile
            return
        session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                run_id=run_id,
                status_code=sent.get("status"),
                duration_ms=sent.get("duration_ms", 0),
                error=sent.get("error"),
                response=sent.get("response"),
            )
        )
        row.attempts += 1
        row.status, row.last_status_code = status, sent.get("status")
        row.last_error = sent.get("error")
        if status == "delivered":
            row.delivered_at = now()
        if more.get("disable"):
            sub = session.get(WebhookSubscription, row.subscription_id)
            if sub is not None:
                sub.enabled, sub.disabled_reason = False, more["disable"]
                sub.updated_at = now()


def _outcome(sent: dict) -> tuple[str, ActionError | None, str | None]:
    """(the delivery's status, the error to raise, why to disable the subscription)."""
    status, where = sent["status"], sent.get("error")
    if status is None:
        return "retrying", ActionError("unavailable", where or "no answer"), None
    if 200 <= status < 300:
        return "delivered", None, None
    message = f"HTTP {status}: {(sent.get('response') or '')[:200]}"
    if status == 410:
        return "failed", ActionError("gone", message), "the endpoint answered 410 Gone"
    if status >= 500 or status in RETRIED:
        return "retrying", ActionError("unavailable", message), None
    return "failed", ActionError("http_error", message), None


@action("webhook.deliver")
def deliver(ctx: ActionContext, args: dict) -> dict:
    """{delivery_id} → {status, duration_ms}: one signed POST of the delivery to its
    subscription's endpoint, logged (webhook_attempts). 2xx ends the run; no answer, 408,
    429 and 5xx are ``unavailable`` (retried); 410 disables the subscription (``gone``);
    another 4xx fails (``http_error``). A disabled or deleted subscription: ``skipped``."""
    delivery_id = str(args.get("delivery_id") or "")
    row = ctx.session.get(WebhookDelivery, delivery_id) if len(delivery_id) <= 40 else None
    if row is None:
        raise ActionError("not_found", f"Webhook delivery {delivery_id} not found.")
    sub = ctx.session.get(WebhookSubscription, row.subscription_id)
    if sub is None or not sub.enabled:
        _log(ctx.org_id, row.id, ctx.run_id, {"error": "the subscription is disabled"}, "skipped")
        return {"status": "skipped"}
    settings = engine.settings()
    try:
        url = check(sub.url, settings.webhook_allow)
    except Refused as exc:
        _log(ctx.org_id, row.id, ctx.run_id, {"error": exc.message}, "failed")
        raise ActionError(exc.code, exc.message) from None
    body = body_of(row.payload)
    signed = headers(unseal(sub.secret, settings.pepper()), row.id, body, datetime.now(UTC))
    sent = post(url, body, signed, ctx.remaining(TIMEOUT_S))
    status, error, disable = _outcome(sent)
    if status == "retrying" and webhooks.last_attempt(ctx.session, ctx.run_id):
        status = "failed"
    _log(ctx.org_id, row.id, ctx.run_id, sent, status, disable=disable)
    if error is not None:
        raise error
    return {"status": sent["status"], "duration_ms": sent["duration_ms"]}


from . import webhooks  # installs the event store's listener in workers too
