"""/v1/integrations: an organisation's integration connections, the credentials its
workflow steps use with a CRM (docs/integrations.md). Admins only (``integrations:admin``);
the credentials go in and never come out; every change audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from qylon_cli.schemas_integrations import ConnectionInfo, ConnectionList, ConnectionPut

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..services import integrations

router = APIRouter(tags=["integrations"], responses=ERROR_RESPONSES)
Name = Annotated[str, Path(max_length=60, pattern=r"^[a-z][a-z0-9_-]*$")]
ADMIN = "integrations:admin"


@router.get("/v1/integrations", response_model=ConnectionList)
def list_connections(ctx: Allowed(ADMIN)) -> ConnectionList:
    """The organisation's connections (never their credentials) and the integrations the
    server offers."""
    rows = integrations.listing(ctx.session)
    return ConnectionList(
        items=[ConnectionInfo.model_validate(r, from_attributes=True) for r in rows],
        installed=integrations.installed(),
    )


@router.put("/v1/integrations/{name}", response_model=ConnectionInfo)
def put_connection(
    name: Name, body: ConnectionPut, ctx: Allowed(ADMIN), request: Request
) -> ConnectionInfo:
    """Connect the integration for the organisation's workflow steps (or replace its
    credentials). Sealed at rest; never returned."""
    row = integrations.put(
        ctx.session, ctx.principal, request.app.state.pepper, name, body.credentials
    )
    return ConnectionInfo.model_validate(row, from_attributes=True)


@router.delete("/v1/integrations/{name}", status_code=204)
def delete_connection(name: Name, ctx: Allowed(ADMIN)) -> Response:
    """Forget the credentials: the organisation's steps of this integration fail
    ``not_connected`` until it is shared again."""
    integrations.delete(ctx.session, ctx.principal, name)
    return Response(status_code=204)
