"""The domain's history: events in eventsourcing's store, in the request's transaction
(``store.append``), and the projections kept from them (``projections``)."""

from .domain import stream_of
from .store import append, append_many

__all__ = ["append", "append_many", "stream_of"]
