"""/v1/events: the organisation's domain events (the event store), in position order.

A cursor list: ``after`` is the last position seen (0: from the start) and the answer's
``next`` the one to ask after next (``after`` again when nothing is new; a page shorter
than ``limit`` is the end for now). Reading every event needs ``events:read`` (admins);
a workflow run's own stream needs only ``workflows:read`` (``qylon workflows history``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qylon_cli.schemas import DomainEvent, DomainEventPage

from ..deps import Authenticated
from ..errors import ERROR_RESPONSES, ApiError
from ..events import domain, store

router = APIRouter(prefix="/v1/events", tags=["events"], responses=ERROR_RESPONSES)


def _allowed(ctx, stream: str | None) -> None:
    if ctx.principal.can("events:read"):
        return
    if stream and stream.startswith("workflow_run:") and ctx.principal.can("workflows:read"):
        return
    raise ApiError(
        403,
        "This API key may not do that (needs events:read).",
        hint="Use an admin's key with the admin scope; a run's own events need workflows:read.",
    )


@router.get("", response_model=DomainEventPage)
def list_events(
    ctx: Authenticated,
    stream: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[a-z_]+:.+$",
            description="kind:id, e.g. user:<id> or workflow_run:run-<uuid>",
        ),
    ] = None,
    correlation_id: Annotated[
        str | None,
        Query(max_length=100, description="A request's or a workflow run's id."),
    ] = None,
    type: Annotated[
        list[str] | None, Query(max_length=100, description="e.g. user.deactivated (repeatable)")
    ] = None,
    after: Annotated[
        int,
        Query(
            ge=0,
            le=2**63 - 1,
            description="Only events after this position (0: from the start).",
        ),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many events.")] = 100,
    last: Annotated[
        bool, Query(description="The newest ``limit`` events after ``after`` (still oldest first).")
    ] = False,
) -> DomainEventPage:
    """The organisation's events after ``after``, oldest first."""
    _allowed(ctx, stream)
    unknown = sorted(set(type or ()) - set(domain.TYPES))
    if unknown:
        raise ApiError(
            422,
            f"type: unknown event type(s) {', '.join(unknown)}.",
            code="invalid_input",
            hint=f"Types: {', '.join(sorted(domain.TYPES))}.",
        )
    found = store.read(
        ctx.session,
        limit=limit,
        after=after,
        stream=stream,
        correlation=correlation_id,
        types=type or (),
        newest=last,
    )
    items = [DomainEvent.model_validate(r.as_dict()) for r in found]
    return DomainEventPage(
        items=items,
        limit=limit,
        after=after,
        next=items[-1].position if items else after,
    )
