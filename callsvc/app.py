"""The FastAPI application and its lifespan."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig

from callsvc import __version__
from callsvc.auth.router import router as keys_router
from callsvc.calls.router import router as calls_router
from callsvc.clock import Clock
from callsvc.db import POSTGRESQL_REQUEST_SESSIONS, SQLITE_READERS, build_engine, build_session_factory
from callsvc.errors import install_error_handlers
from callsvc.ingestion import service as ingestion_service
from callsvc.ingestion.router import events_router, webhook_checks_router, webhooks_router
from callsvc.ingestion.writer import DeliveryWriter
from callsvc.jobs import JobContext
from callsvc.limits import BodyLimitMiddleware
from callsvc.logs import AccessLogMiddleware, configure_logging
from callsvc.managers.router import router as managers_router
from callsvc.ops.router import router as ops_router
from callsvc.outcomes.router import router as outcomes_router
from callsvc.routing import WebhookLane
from callsvc.scheduler import build_scheduler
from callsvc.settings import Settings

log = logging.getLogger(__name__)

# The service reports through /metrics and its logs. FastAPI's OpenTelemetry hooks would otherwise
# look up the global providers, reading the environment, on every request.
NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
GC_THRESHOLDS = (20_000, 50, 1000)
# Outbound calls (to CRMs) must never hold a job for long: a slow peer gets a timeout, not a thread.
OUTBOUND_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """Build the app; the database engine opens with the lifespan unless a session factory is given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.zadarma_api_secret and not settings.zadarma_allowed_ips:
            log.warning(
                "CALLSVC_ZADARMA_API_SECRET is set without CALLSVC_ZADARMA_ALLOWED_IPS: Zadarma's signature leaves "
                "the duration and disposition out, so a captured notification can be replayed with them altered; "
                "list Zadarma's addresses in CALLSVC_ZADARMA_ALLOWED_IPS"
            )
        engines = []
        # Given from outside (tests), one session factory may serve all three.
        writer_sessions = getattr(app.state, "session_factory", None)
        if writer_sessions is None:
            engines.append(build_engine(settings))
            app.state.session_factory = writer_sessions = build_session_factory(engines[-1])
            if settings.is_sqlite:
                # One write connection, which the delivery writer shares with API writes; reads have their own.
                engines.append(build_engine(settings, read_only=True))
                app.state.read_session_factory = build_session_factory(engines[-1])
            else:
                engines.append(build_engine(settings, ping=False))
                writer_sessions = build_session_factory(engines[-1])
        if not hasattr(app.state, "read_session_factory"):
            app.state.read_session_factory = app.state.session_factory
        if settings.is_sqlite:
            app.state.read_slots = CapacityLimiter(SQLITE_READERS)
            app.state.write_slots = CapacityLimiter(1)
        else:
            app.state.read_slots = app.state.write_slots = CapacityLimiter(POSTGRESQL_REQUEST_SESSIONS)
        app.state.writer = DeliveryWriter(writer_sessions, settings=settings, clock=app.state.clock)
        app.state.writer.start()
        http = httpx.Client(timeout=OUTBOUND_TIMEOUT, follow_redirects=False)
        app.state.jobs = JobContext(
            session_factory=app.state.session_factory, settings=settings, clock=app.state.clock, http=http
        )
        scheduler = None
        if settings.scheduler_enabled:
            scheduler = build_scheduler(app.state.jobs)
            scheduler.start()
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()
            app.state.writer.stop()
            http.close()
            for engine in engines:
                engine.dispose()

    app = FastAPI(
        title="callsvc",
        version=__version__,
        summary="Every PBX call recorded once, every answered call tagged, every follow-up kept.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        telemetry=NO_OPENTELEMETRY,
    )
    app.state.settings = settings
    app.state.clock = clock or Clock()
    # The calls package shows each call's raw deliveries without depending on the package that keeps them.
    app.state.delivery_log = ingestion_service.delivery_log
    install_error_handlers(app)
    # The last one added runs first: the access log sees the 413s and 408s of the body limit.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        read_timeout_seconds=settings.body_read_timeout_seconds,
    )
    app.add_middleware(AccessLogMiddleware)
    for router in (
        webhooks_router,
        webhook_checks_router,
        calls_router,
        events_router,
        outcomes_router,
        managers_router,
        keys_router,
        ops_router,
    ):
        app.include_router(router)
    app.router.middleware_stack = WebhookLane(app.router.middleware_stack, webhooks_router.routes)
    return app


def create_app_from_environment() -> FastAPI:
    """The app `callsvc serve` runs in each of its processes, on the CALLSVC_* environment."""
    settings = Settings()
    # A worker process starts afresh: the parent's logging setup does not reach it.
    configure_logging(settings.log_level)
    app = create_app(settings)
    # What exists at start-up is kept out of every collection, and collections come less often: a
    # delivery allocates hundreds of short-lived objects, nearly all freed by reference counting,
    # and with the default thresholds the collector's pauses set the p99 of webhook answers.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return app
