"""Routes that take one trip through a thread pool per request.

A route with ``ctx: Allowed(permission)`` costs a request three trips through anyio's
thread pool (the session dependency's entry, the route, the dependency's exit, where the
transaction commits) and FastAPI's generator-dependency machinery. Under load, with 32
requests at a time on two cores, those hand-offs took more of the server's time than the
clients list's own work. A route decorated with ``one_trip(permission)`` runs the same
steps in one call on a thread of the app's own pool: authenticate the key, check the
permission, run the route, commit (roll back if it raises)::

    router = APIRouter(prefix="/v1/clients", route_class=OneTripRoute)

    @router.get("", response_model=ClientPage)
    @one_trip("clients:read")
    def list_clients(ctx: Ctx, limit: Limit = 50) -> JsonBytes: ...

The answers stay those of ``Allowed``: where FastAPI refuses a request's parameters or
body (422) before the route runs, ``OneTripRoute`` first checks the key and the
permission, so a bad key still gets 401 and a key without the permission 403 (and the
authentication's writes roll back); a body that is not JSON at all gets 422 first, as
with ``Allowed``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import typing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from .deps import Ctx, authenticate, bearer_token, client_ip, open_session, require

T = TypeVar("T")
_PERMISSION = "qylon_one_trip_permission"


def one_trip(permission: str):
    """Make ``route(ctx, **params)`` an endpoint ``(request, **params)`` that runs it in
    one trip (module docstring). FastAPI sees the route's own parameters, name and
    docstring, so the OpenAPI document is the same as with ``ctx: Allowed(permission)``."""
    check = require(permission)

    def wrap(route: Callable[..., T]):
        hints = typing.get_type_hints(route, include_extras=True)
        params = list(inspect.signature(route).parameters.values())[1:]  # all but ctx

        async def endpoint(request: Request, **values: Any) -> T:
            run = functools.partial(_authorised, request, check, lambda ctx: route(ctx, **values))
            return await in_thread(request, run)

        endpoint.__signature__ = inspect.Signature(
            [
                inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
                *(
                    p.replace(
                        kind=inspect.Parameter.KEYWORD_ONLY,
                        annotation=hints.get(p.name, p.annotation),
                    )
                    for p in params
                ),
            ]
        )
        for name in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(endpoint, name, getattr(route, name))
        setattr(endpoint, _PERMISSION, permission)
        return endpoint

    return wrap


def _authorised(request: Request, check: Callable[[Ctx], Ctx], then: Callable[[Ctx], T]) -> T:
    """``then(ctx)`` in the request's transaction, once its key is authenticated and
    ``check`` passed; committed when it returns, rolled back when it raises."""
    state = request.app.state
    token = bearer_token(request)
    with open_session(request, token) as session:
        return then(check(Ctx(session, authenticate(state, session, token, client_ip(request)))))


def _refusal(exc: Exception) -> Callable[[Ctx], None]:
    """Raises ``exc`` in the transaction: what authentication wrote rolls back."""

    def refuse(_ctx: Ctx) -> None:
        raise exc

    return refuse


async def in_thread(request: Request, work: Callable[[], T]) -> T:
    """``work()`` on a thread of the app's pool, with the caller's context variables.
    ``run_in_executor`` hands work over for a third of what anyio's ``to_thread`` costs.

    The pool is small (``request_threads``: 1 thread on SQLite, 2 on PostgreSQL): the work
    holds the GIL but for its database calls, so at 32 connections 20 threads only took
    turns with each other and with the event loop, and each answer waited longer. On
    SQLite a second thread also slowed the one holding the file's writer lock, which every
    other write waits for; on PostgreSQL it runs while the first waits for the database."""
    state = request.app.state
    pool = getattr(state, "one_trip_pool", None)
    if pool is None:
        size = state.settings.request_threads or (2 if state.db.postgres else 1)
        pool = state.one_trip_pool = ThreadPoolExecutor(size, thread_name_prefix="qylon-request")
    call = functools.partial(contextvars.copy_context().run, work)
    return await asyncio.get_running_loop().run_in_executor(pool, call)


class OneTripRoute(APIRoute):
    """The route class for routers with ``one_trip`` routes (others are left as they are)."""

    def get_route_handler(self):
        handler = super().get_route_handler()
        permission = getattr(self.endpoint, _PERMISSION, None)
        if permission is None:
            return handler
        check = require(permission)

        async def handle(request: Request):
            try:
                return await handler(request)
            except RequestValidationError as exc:
                if any(e.get("type") == "json_invalid" for e in exc.errors()):
                    raise

                await in_thread(
                    request, functools.partial(_authorised, request, check, _refusal(exc))
                )
                raise

        return handle
