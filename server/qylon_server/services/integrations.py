"""An organisation's integration connections: the credentials its workflow steps use with
a CRM or another vendor (docs/integrations.md).

A connection is the integration plugin's own credentials document (``qylon_cli.tokens``),
sealed (``sealing.py``) in ``integration_connections``: an admin puts it, nobody reads it
back over the API, the audit trail names it without its contents, and a run's input never
holds it. While a plugin's workflow action runs, ``tokens.connections(OrgConnections(...))``
makes the run's organisation's document the only one the plugin can see (workflows/actions.py);
tokens a step refreshes are sealed again in the step's own transaction.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ApiError, not_found
from ..models import IntegrationConnection, now
from . import audit

PURPOSE = b"qylon-integrations-v1"
MAX_BYTES = 16_384


def installed() -> list[str]:
    """The integrations the server's plugins register (``register_providers``)."""
    from qylon_cli import plugins
    from qylon_cli.errors import QylonError

    try:
        entries = plugins.providers().values()
    except QylonError:
        return []
    return sorted({e.options["name"] for e in entries})


def listing(session: Session) -> list[IntegrationConnection]:
    return list(session.scalars(select(IntegrationConnection).order_by(IntegrationConnection.name)))


def find(session: Session, name: str) -> IntegrationConnection | None:
    query = select(IntegrationConnection).where(IntegrationConnection.name == name)
    return session.scalars(query).one_or_none()


def _check(name: str, creds: dict) -> str:
    if name not in installed():
        offered = ", ".join(installed()) or "none"
        raise ApiError(
            422,
            f"{name!r} is not an integration this server has (installed: {offered}).",
            code="invalid_input",
        )
    token = creds.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise ApiError(
            422, "credentials.access_token: a non-empty string is required", code="invalid_input"
        )
    text = json.dumps(creds, separators=(",", ":"))
    if len(text.encode()) > MAX_BYTES:
        raise ApiError(
            422, f"credentials: more than {MAX_BYTES} bytes of JSON", code="invalid_input"
        )
    return text


def put(
    session: Session, principal, pepper: bytes, name: str, creds: dict
) -> IntegrationConnection:
    """Connect (or replace) ``name`` for the organisation; audited without the contents."""
    from .. import sealing

    text = _check(name, creds)
    row = find(session, name)
    replaced = row is not None
    if row is None:
        row = IntegrationConnection(org_id=session.info["org_id"], name=name, created_at=now())
        session.add(row)
    kind = creds.get("type")
    row.kind = kind[:40] if isinstance(kind, str) else None
    row.sealed = sealing.seal(text, pepper, PURPOSE)
    row.created_by, row.updated_at, row.refreshed_at = principal.user.id, now(), None
    session.flush()
    audit.record(
        session,
        principal,
        "integration.connect",
        target_type="integration",
        target_id=name,
        detail={"kind": row.kind, "replaced": replaced},
    )
    return row


def delete(session: Session, principal, name: str) -> None:
    row = find(session, name)
    if row is None:
        raise not_found("Integration connection")
    session.delete(row)
    audit.record(
        session, principal, "integration.disconnect", target_type="integration", target_id=name
    )


class OrgConnections:
    """``qylon_cli.tokens.Connections`` over the session's organisation (a step's)."""

    def __init__(self, session: Session, pepper: bytes):
        self.session = session
        self.pepper = pepper

    def load(self, integration: str) -> dict | None:
        from .. import sealing

        row = find(self.session, integration)
        if row is None:
            return None
        try:
            return json.loads(sealing.unseal(row.sealed, self.pepper, PURPOSE))
        except sealing.Broken:
            raise ApiError(
                409,
                f"The organisation's {integration} connection was sealed under another "
                f"QYLON_SECRET_KEY: share it again (qylon integrations share {integration}).",
                code="not_configured",
            ) from None

    def save(self, integration: str, creds: dict) -> None:
        from .. import sealing

        row = find(self.session, integration)
        if row is None:  # disconnected while the step ran: keep nothing
            return
        row.sealed = sealing.seal(json.dumps(creds, separators=(",", ":")), self.pepper, PURPOSE)
        row.updated_at = row.refreshed_at = now()
        self.session.flush()
