"""An organisation's mail settings: its relay (a secret: stored, never read back), its
sender, and the country and time zone its sequences count business days in by default.
Unset, the server's ``QYLON_SMTP_URL`` and ``QYLON_MAIL_FROM`` apply."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from ..errors import ApiError
from ..models import MailSettings, now
from . import audit, business_days

UNSET = object()


def get(session: Session) -> MailSettings | None:
    return session.get(MailSettings, session.info["org_id"])


SCHEMES = ("smtp", "smtp+starttls", "smtps")  # as workflows/mail.py sends through


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ApiError(
            422,
            "smtp_url must be smtp://, smtp+starttls:// or smtps://[USER:PASS@]HOST[:PORT].",
            code="invalid_input",
        )


def _check_sender(sender: str) -> None:
    from email.headerregistry import Address

    try:
        Address(addr_spec=sender)
    except (ValueError, IndexError):
        raise ApiError(422, f"mail_from: {sender!r} is not an address", code="invalid_input")
    if "@" not in sender:
        raise ApiError(422, f"mail_from: {sender!r} is not an address", code="invalid_input")


def update(session: Session, principal, changes: dict) -> MailSettings:
    """Set the given fields (None clears one); audited without the relay's URL."""
    if changes.get("smtp_url"):
        _check_url(changes["smtp_url"])
    if changes.get("mail_from"):
        _check_sender(changes["mail_from"])
    if changes.get("time_zone"):
        try:
            business_days.zone(changes["time_zone"])
        except business_days.UnknownZone as exc:
            raise ApiError(422, str(exc), code="invalid_input") from None
    row = get(session)
    if row is None:
        row = MailSettings(org_id=session.info["org_id"])
        session.add(row)
    for key, value in changes.items():
        setattr(row, key, value or None)
    row.updated_by, row.updated_at = principal.user.id, now()
    session.flush()
    audit.record(
        session,
        principal,
        "onboarding.mail_settings.update",
        target_type="mail_settings",
        target_id=row.org_id,
        detail={"changed": sorted(changes)},  # never the relay's URL: it holds a password
    )
    return row


def shown(row: MailSettings | None, fallback_url: str | None, fallback_from: str) -> dict:
    """What may be shown of the settings: the relay's host, never its URL."""
    url = row.smtp_url if row is not None else None
    relay = url or fallback_url
    host = urlsplit(relay).hostname if relay else None
    return {
        "smtp_url_set": bool(url),
        "relay_host": host,
        "relay_source": "organisation" if url else ("server" if fallback_url else None),
        "mail_from": (row.mail_from if row is not None else None) or fallback_from,
        "country": row.country if row is not None else None,
        "time_zone": row.time_zone if row is not None else None,
    }
