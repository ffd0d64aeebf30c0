"""Get a row by id, or answer 404: the one look-up every api module uses."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from ..errors import not_found

T = TypeVar("T")

ID_LENGTH = 36  # ids are uuid4 strings; a longer one cannot exist (and is not sent to the database)


def get_or_404(session: Session, model: type[T], row_id: str | tuple, *, what: str) -> T:
    """The ``model`` row with this id (or composite key) in the session's organisation;
    ApiError 404 (``{what} not found.``) when there is none."""
    too_long = isinstance(row_id, str) and len(row_id) > ID_LENGTH
    row = None if too_long else session.get(model, row_id)
    if row is None:
        raise not_found(what)
    return row
