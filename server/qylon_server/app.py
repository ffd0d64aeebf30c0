"""The FastAPI application: ``create_app()`` (uvicorn's factory) wires settings, database,
rate limiter, size limit, error handlers and the /v1 routers."""

from __future__ import annotations

import asyncio
import gc
import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from qylon_cli import paths

from . import __version__, errors, migrate, scim
from .api import (
    action_items,
    api_keys,
    audit_events,
    clients,
    compliance,
    engagement,
    events,
    experiments,
    groups,
    integrations,
    meetings,
    notifications,
    onboarding,
    reports,
    transcription_jobs,
    users,
    webhooks,
    workflows,
)
from .config import ServerSettings, get_settings
from .db import Database
from .deps import authenticate, bearer_token, client_ip, key_hash
from .limiter import RateLimiter
from .middleware import RequestGuards
from .workflows import engine as workflow_engine


class Health(BaseModel):
    status: str
    version: str


class Ready(BaseModel):
    """Without a key only ``status``; with a valid key the details too."""

    status: str
    database: str | None = None
    schema_revision: str | None = None
    rate_limit: str | None = None
    redis: str | None = None


def _running_workflows(executor_id: str):
    """A lifespan that runs workflows in this process under ``executor_id`` (DBOS)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        workflow_engine.launch(app.state.db, executor_id, settings=app.state.settings)
        await workflow_engine.start_queue()
        try:
            yield
        finally:
            await asyncio.to_thread(workflow_engine.shutdown)

    return lifespan


def served_app() -> FastAPI:
    """uvicorn's factory under ``qylon server start``: ``create_app()``, then every object
    the process holds so far (the modules, the app with its routes and schemas: nearly all
    it will ever hold) frozen out of the garbage collector's view (``gc.freeze``). Under
    load the collector's full passes rescanned them all: one took 390 ms, every request
    in that worker waiting, the benchmark's p99 (docs/benchmarks.md). Not in
    ``create_app``: tests build many apps in one process, and frozen objects stay.

    On PostgreSQL, also a 1 ms GIL switch interval instead of Python's 5 ms. There the
    event loop shares the GIL with two request threads (``one_trip``), each of which
    releases it for every round trip to the database; a thread whose answer has come
    waited for a loop busy with other requests up to the interval. Alternated runs of
    ``benchmarks/api.py`` (docs/benchmarks.md, session 21): GET p99 lower in 11 of 12
    pairs, by 3 to 29 ms. On SQLite (one request thread) it did not help (2 pairs), and
    is left alone."""
    app = create_app()
    if app.state.db.postgres:
        sys.setswitchinterval(0.001)
    gc.collect()
    gc.freeze()
    return app


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check()
    paths.make_private()  # umask 0077 (a bare `uvicorn qylon_server.app:create_app` too)
    settings.make_database_private()
    app = FastAPI(
        title="Qylon server",
        version=__version__,
        description="The team's hosted API: clients, meetings, action items, users, API keys, audit events.",
    )
    app.state.settings = settings
    app.state.db = Database(settings.database_url, pool_size=settings.pool_size)
    app.state.pepper = settings.pepper()
    app.state.limiter = RateLimiter(
        settings.rate_limit,
        settings.redis_url,
        failures=settings.auth_failure_limit,
        per_user=settings.user_rate_limit,
    )
    errors.install(app)
    app.state.workflows = workflow_engine.client(app.state.db)  # enqueues runs
    if settings.workflow_executor:
        app.router.lifespan_context = _running_workflows(settings.workflow_executor)
    for module in (
        clients,
        meetings,
        action_items,
        users,
        groups,
        api_keys,
        audit_events,
        events,
        workflows,
        experiments,
        engagement,
        compliance,
        onboarding,
        webhooks,
        notifications,
        reports,
        integrations,
        transcription_jobs,
    ):
        app.include_router(module.router)
    from .pages import compliance as compliance_pages
    from .pages import dashboard, unsubscribe

    app.include_router(compliance_pages.router)  # /p/...: pages reached by signed links
    app.include_router(unsubscribe.router)  # /p/unsubscribe
    app.include_router(dashboard.router)  # /p/dashboard
    scim.mount(app)
    from .plugin import include_routers

    include_routers(app)  # plugins' routers, after the built-in ones

    @app.get("/health", response_model=Health, tags=["health"])
    def health() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok", version=__version__)

    @app.get(
        "/ready",
        response_model=Ready,
        response_model_exclude_none=True,
        tags=["health"],
        responses={401: {"model": errors.ErrorBody}, 503: {"model": errors.ErrorBody}},
    )
    def ready(request: Request):
        """Readiness: the database answers and is at the newest schema. With an API key, also
        the database kind, schema revision, rate-limit backend and Redis's state."""
        db, limiter = request.app.state.db, request.app.state.limiter
        try:
            revision = migrate.current(db.engine)
        except Exception as exc:  # noqa: BLE001
            return JSONResponse(
                errors.body("unavailable", f"Database unavailable: {type(exc).__name__}"), 503
            )
        if revision != migrate.head():
            return JSONResponse(
                errors.body("database_not_migrated", "Run `qylon server migrate`."), 503
            )
        if not request.headers.get("authorization"):
            return Ready(status="ready")
        with db.session(
            None, key_hash=key_hash(request.app.state, bearer_token(request))
        ) as session:
            authenticate(request.app.state, session, bearer_token(request), client_ip(request))
        return Ready(
            status="ready",
            database=db.engine.dialect.name,
            schema_revision=revision,
            rate_limit=f"{settings.rate_limit} ({limiter.backend})",
            redis=limiter.redis_state(),
        )

    app.add_middleware(
        RequestGuards,
        max_bytes=settings.max_body_bytes,
        audio_bytes=settings.max_audio_bytes,
        small_bytes=settings.small_body_bytes,
        timeout_s=settings.body_timeout_s,
        max_concurrent=settings.max_concurrent_requests,
        limiter=app.state.limiter,
    )
    if (
        settings.trusted_proxies.strip()
    ):  # outermost: the guards and routes see the client's address
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(
            ProxyHeadersMiddleware,
            trusted_hosts=[h.strip() for h in settings.trusted_proxies.split(",") if h.strip()],
        )

    return app
