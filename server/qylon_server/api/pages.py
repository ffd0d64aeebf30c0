"""Pagination parameters shared by every list route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

Limit = Annotated[int, Query(ge=1, le=200, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Skip this many items.")]


def page(session: Session, stmt, *, limit: int, offset: int, order_by, after=None) -> tuple[list, int]:
    """One page of ``stmt`` and the total it matches. ``after``, a condition such as
    ``Row.key > last_key`` (keyset paging), narrows the page but not the total."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    if after is not None:
        stmt = stmt.where(after)
    rows = session.scalars(stmt.order_by(*order_by).limit(limit).offset(offset)).all()
    return list(rows), int(total or 0)
