"""An organisation's integration connections (issue 21): the credentials its workflow
steps use with a CRM or another vendor, sealed (``sealing.py``), never returned, never in
a run's input. Re-exported by ``models``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, OrgScoped, now


class IntegrationConnection(OrgScoped, Base):
    """One integration's credentials for one organisation: the plugin's own document
    (``qylon_cli.tokens``) as sealed JSON. ``kind`` (``private_app``, ``oauth``, ...) is
    what may be shown of it."""

    __tablename__ = "integration_connections"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(40))
    sealed: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    refreshed_at: Mapped[datetime | None]  # when a step last wrote back refreshed tokens
