"""Signed, expiring links for people who have no CLI yet (onboarding emails, issue 20).

A link names what it is for (its purpose: ``checklist``, ``acknowledge``, ``evidence``,
``unsubscribe``...), the organisation and the person it is bound to, and optionally the
thing it acts on (a compliance item, a sequence). It is signed with a key derived from the
server's secret (itsdangerous, HMAC-SHA256) and carries its own time, so it expires without
any stored state. A page checks the purpose it expects: a link made for unsubscribing
cannot open someone's checklist. Reuse is the domain's business: a page whose action is
done already (an item acknowledged, an address unsubscribed) says so instead of acting
twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .config import ServerSettings

DEFAULT_TTL_S = 14 * 24 * 3600  # a fortnight: long enough for a holiday between emails


class LinkInvalid(Exception):
    """A link that was altered, made for another purpose, or signed with another key."""


class LinkExpired(LinkInvalid):
    """A genuine link past its time."""


@dataclass(frozen=True)
class Link:
    purpose: str
    org_id: str
    user_id: str
    subject: str | None = None  # what the link acts on, e.g. a compliance item's id


def _serializer(settings: ServerSettings, purpose: str) -> URLSafeTimedSerializer:
    # The purpose is the salt: a token signed for one purpose fails every other's check.
    return URLSafeTimedSerializer(settings.link_key(), salt=f"qylon.link.{purpose}")


def sign(settings: ServerSettings, link: Link) -> str:
    """The token of ``link`` (URL-safe), timestamped now."""
    claims = {"o": link.org_id, "u": link.user_id}
    if link.subject is not None:
        claims["s"] = link.subject
    return _serializer(settings, link.purpose).dumps(claims)


def read(
    settings: ServerSettings, token: str, *, purpose: str, max_age_s: int = DEFAULT_TTL_S
) -> Link:
    """The link ``token`` stands for, if it was signed here for ``purpose`` within
    ``max_age_s``. Raises LinkExpired or LinkInvalid; never returns a partial link."""
    try:
        claims = _serializer(settings, purpose).loads(token, max_age=max_age_s)
    except SignatureExpired as exc:
        raise LinkExpired("This link has expired.") from exc
    except BadSignature as exc:
        raise LinkInvalid("This link is not valid.") from exc
    if (
        not isinstance(claims, dict)
        or not isinstance(claims.get("o"), str)
        or not isinstance(claims.get("u"), str)
    ):
        raise LinkInvalid("This link is not valid.")
    return Link(purpose=purpose, org_id=claims["o"], user_id=claims["u"], subject=claims.get("s"))


def url(settings: ServerSettings, link: Link, path: str) -> str:
    """The full address of ``path`` (e.g. ``/p/unsubscribe``) carrying ``link``'s token."""
    return f"{settings.public_url.rstrip('/')}{path}?t={quote(sign(settings, link))}"
