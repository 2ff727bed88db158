"""One FastAPI application and one command line for every subgraph service.

A service describes itself with a :class:`ServiceDefinition`; this module turns it into the
ASGI app (lifespan, health, GraphQL) and the ``python -m <service>`` commands.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from pcse_kit import metrics, telemetry
from pcse_kit.auth import (
    AuthUnavailable,
    JwksCache,
    TokenVerifier,
    Unauthenticated,
    load_public_key,
)
from pcse_kit.bodylimit import BodyLimit
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.events import Bus, Relay, Worker, running
from pcse_kit.graphql import GraphQLApp, GraphQLFirst
from pcse_kit.logs import configure_logging
from pcse_kit.migrations import upgrade
from pcse_kit.observe import RequestMetrics
from pcse_kit.roles import audit_exposure, role_of
from pcse_kit.verified import CACHE_SECONDS, CachingVerifier

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
    from pathlib import Path
    from types import FrameType

    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from pcse_kit.auth import Principal
    from pcse_kit.graphql import FederationSchema, RequestContext
    from pcse_kit.settings import ServiceSettings

logger = logging.getLogger("pcse.service")

READINESS_TIMEOUT_SECONDS = 2.0
KEEP_ALIVE_SECONDS = 75
"""How long an idle keep-alive connection is kept open for its client."""


@dataclass(frozen=True, kw_only=True)
class ServiceDefinition:
    """What makes a subgraph service: its name, schema, migrations, context and demo data."""

    name: str
    service_dir: Path
    """The folder holding ``alembic.ini`` and ``migrations/``."""
    settings_factory: Callable[[], ServiceSettings]
    schema: FederationSchema
    context_factory: Callable[[async_sessionmaker[AsyncSession], Principal], RequestContext]
    seed_demo: Callable[[async_sessionmaker[AsyncSession]], Awaitable[bool]] | None = None
    """Loads the deterministic demo data; returns False when it was already there."""
    event_workers: Callable[[EventWiring], Sequence[Worker]] | None = None
    """The relays and consumers that run beside the service while it serves."""
    routers: Sequence[APIRouter] = ()
    """Plain HTTP routes beside GraphQL (a file streamed to a client). A handler finds the
    token verifier at ``request.app.state.verifier`` and the database at
    ``request.app.state.sessionmaker``; an :class:`Unauthenticated` it raises answers 401."""


@dataclass(frozen=True, kw_only=True)
class EventWiring:
    """What a service's event workers are built from."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    bus: Bus


def token_verifier(settings: ServiceSettings) -> CachingVerifier:
    """The service's verifier: every check of :class:`TokenVerifier`, its results remembered
    for a short while (:mod:`pcse_kit.verified`)."""
    # Never longer than a fetched key set is trusted: with a short key-set age, a withdrawn
    # key stops working as soon as the set is fetched again and the cache let go.
    max_age = CACHE_SECONDS
    if settings.auth_jwks_url:
        max_age = min(max_age, settings.auth_jwks_max_age_seconds)
    return CachingVerifier(
        uncached_verifier(settings), size=settings.auth_cache_size, max_age=max_age
    )


def uncached_verifier(settings: ServiceSettings) -> TokenVerifier:
    key_files = [settings.auth_public_key_file] if settings.auth_public_key_file else []
    jwks = (
        JwksCache(settings.auth_jwks_url, max_age=settings.auth_jwks_max_age_seconds)
        if settings.auth_jwks_url
        else None
    )
    return TokenVerifier(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        public_keys=[load_public_key(path) for path in key_files],
        jwks=jwks,
        claims=settings.claims_mapping(),
    )


def event_bus(service: str, settings: ServiceSettings) -> Bus | None:
    """The service's connection to the broker, or None when ``*_NATS_URL`` is unset."""
    if settings.nats_url is None:
        return None
    return Bus(
        settings.nats_url,
        name=service,
        user=settings.nats_user,
        password=None
        if settings.nats_password is None
        else settings.nats_password.get_secret_value(),
    )


class AuditTrailExposed(RuntimeError):
    """Production refuses to run as a database role that could rewrite its own audit trail."""


def migrate(service: ServiceDefinition, settings: ServiceSettings) -> None:
    """Apply the migrations as the migrator and grant the service's role what it may do."""
    upgrade(
        service.service_dir,
        settings.migration_url,
        service_role=role_of(settings.database_url),
    )


async def check_audit_trail(engine: AsyncEngine, settings: ServiceSettings) -> None:
    """Say, or in production refuse, when the service's own role could change or empty an
    append-only table (it owns it, or holds UPDATE, DELETE or TRUNCATE on it)."""
    async with engine.connect() as connection:
        exposure = await audit_exposure(connection)
    if not exposure:
        return
    advice = (
        "; give the service a role that owns nothing (*_DATABASE_URL) and migrate as the "
        "tables' owner (*_MIGRATE_DATABASE_URL)"
    )
    if settings.environment == "production":
        raise AuditTrailExposed(exposure.describe() + advice)
    logger.warning("%s%s", exposure.describe(), advice)


GC_THRESHOLDS: Final = (10_000, 10, 10)
"""The collector's thresholds once serving (Python's own: 700, 10, 10). A request allocates
thousands of objects that reference counting frees as it ends; at 700 allocations a young
collection ran several times within each request, walking whatever was in flight, and the
status query spent a tenth of a subgraph's CPU there. Cycles are still collected."""


def _lifespan(
    service: ServiceDefinition, settings: ServiceSettings, tracing: TracerProvider | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await asyncio.to_thread(migrate, service, settings)
        engine = create_engine(
            settings.database_url,
            application_name=service.name,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            statement_timeout_seconds=settings.db_statement_timeout_seconds,
        )
        if tracing is not None:
            telemetry.instrument_engine(engine, tracing)
        app.state.engine = engine
        app.state.settings = settings
        try:
            await check_audit_trail(engine, settings)
        except BaseException:
            await engine.dispose()
            raise
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.bus = bus = event_bus(service.name, settings)
        if settings.seed_demo and service.seed_demo is not None:
            loaded = await _seed(service, settings)
            logger.info("demo data %s", "loaded" if loaded else "already present")
        # Everything made so far (modules, the schema, the mappers) lives as long as the
        # process: set it apart from the garbage collector, whose full collections would
        # otherwise walk it again and again while requests are served.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            with metrics.watch_pool(service.name, engine):
                if bus is not None and service.event_workers is not None:
                    workers = service.event_workers(
                        EventWiring(engine=engine, sessionmaker=app.state.sessionmaker, bus=bus)
                    )
                    relays = [w for w in workers if isinstance(w, Relay)]

                    async def count_backlog() -> None:
                        for relay in relays:
                            metrics.OUTBOX_BACKLOG.labels(relay.stream).set(await relay.backlog())

                    with metrics.before_scrape(count_backlog):
                        async with running(*workers):
                            yield
                else:
                    yield
        finally:
            if bus is not None:
                await bus.close()
            await engine.dispose()
            if tracing is not None:
                tracing.force_flush()

    return lifespan


async def readiness(request: Request) -> JSONResponse:
    """Ready when the database answers and, with events configured, the broker does."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            async with request.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        logger.warning("readiness: the database does not answer", exc_info=True)
        checks["database"] = "unavailable"
    bus: Bus | None = request.app.state.bus
    if bus is not None:
        try:
            await bus.ping(READINESS_TIMEOUT_SECONDS)
            checks["broker"] = "ok"
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            logger.warning("readiness: the broker does not answer: %r", error)
            checks["broker"] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


def unauthenticated(_request: Request, error: Unauthenticated) -> JSONResponse:
    """401, refused before any GraphQL runs, but answered in GraphQL's shape."""
    return JSONResponse(
        {"errors": [{"message": error.message, "extensions": error.extensions}]},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def auth_unavailable(_request: Request, error: AuthUnavailable) -> JSONResponse:
    """503: the identity provider's fault, not the caller's, as the gateway answers it."""
    return JSONResponse(
        {"errors": [{"message": error.message, "extensions": error.extensions}]},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def create_app(service: ServiceDefinition, settings: ServiceSettings) -> FastAPI:
    verifier = token_verifier(settings)
    tracing = telemetry.configure_tracing(
        service=service.name,
        otlp_endpoint=settings.otlp_endpoint,
        traces_file=settings.traces_file,
        sample_ratio=settings.trace_sample_ratio,
    )
    app = FastAPI(
        title=f"PCSE status: {service.name}",
        lifespan=_lifespan(service, settings, tracing),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.verifier = verifier

    async def context_getter(request: Request) -> RequestContext:
        principal = await verifier.verify(request.headers.get("authorization"))
        return service.context_factory(app.state.sessionmaker, principal)

    app.add_middleware(
        GraphQLFirst,
        graphql=GraphQLApp(
            service.schema,
            context_getter=context_getter,
            refusals={Unauthenticated: unauthenticated, AuthUnavailable: auth_unavailable},
            graphql_ide=settings.graphql_ide,
        ),
    )
    app.add_middleware(RequestMetrics)
    if tracing is not None:
        telemetry.instrument_app(app, tracing)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_api_route("/readyz", readiness, methods=["GET"], include_in_schema=False)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(await metrics.render(), media_type=metrics.CONTENT_TYPE)

    app.add_exception_handler(Unauthenticated, unauthenticated)  # type: ignore[arg-type]
    app.add_exception_handler(AuthUnavailable, auth_unavailable)  # type: ignore[arg-type]

    for router in service.routers:
        app.include_router(router)
    return app


async def _seed(service: ServiceDefinition, settings: ServiceSettings) -> bool:
    """Load the demo data as the migrator: a load, like a migration, may set sequences,
    which the service's own role may not."""
    assert service.seed_demo is not None
    engine = create_engine(
        settings.migration_url, application_name=f"{service.name}-seed", pool_size=1
    )
    try:
        return await service.seed_demo(create_sessionmaker(engine))
    finally:
        await engine.dispose()


def main(service: ServiceDefinition, argv: list[str] | None = None) -> int:
    """``python -m <service> serve | migrate | seed-demo | print-schema``."""
    parser = argparse.ArgumentParser(prog=f"python -m {service.name}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="migrate (unless disabled) and serve GraphQL")
    commands.add_parser("migrate", help="apply the database migrations and exit")
    commands.add_parser("seed-demo", help="load the deterministic demo data, once")
    commands.add_parser("print-schema", help="print the subgraph SDL")
    args = parser.parse_args(argv)

    if args.command == "print-schema":
        sys.stdout.write(service.schema.as_str() + "\n")
        return 0

    settings = service.settings_factory()
    # JSON with trace ids, NHS numbers masked (pcse_kit.logs, pcse_kit.telemetry).
    configure_logging(level=settings.log_level, service=service.name, format=settings.log_format)
    if args.command == "migrate":
        migrate(service, settings)
        return 0
    if args.command == "seed-demo":
        if service.seed_demo is None:
            return 0
        loaded = asyncio.run(_seed(service, settings))
        logger.info("demo data %s", "loaded" if loaded else "already present")
        return 0

    import uvicorn  # noqa: PLC0415 - only the serve command needs the server

    class Server(uvicorn.Server):
        """uvicorn's server, except that a stop signal during start-up stops it at once.

        uvicorn notes the signal and acts on it only once start-up is over, which with
        migrations or the demo data to load can take a long while. Nothing is served yet,
        and both run in a single transaction that PostgreSQL rolls back when the connection
        goes, so leaving straight away loses nothing.
        """

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if not self.started:
                logger.warning("stopped by signal %d while starting", sig)
                logging.shutdown()
                os._exit(128 + sig)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        create_app(service, settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        # No logging configuration of uvicorn's own: its loggers propagate to the root
        # handler (JSON with trace ids, NHS numbers masked); RequestMetrics writes one line
        # per request in place of its access log.
        log_config=None,
        # libuv's event loop and the C HTTP parser (both dependencies of the kit): the Python
        # loop and h11 would cost each request more CPU than its GraphQL does.
        loop="uvloop",
        http="httptools",
        # Longer than any client keeps an idle connection (the gateway's Node agent: 5 s), so
        # the client, not the service, closes it. With uvicorn's own 5 s both ends closed at
        # once after a pause, and a request the gateway sent on a connection closing under it
        # failed (SUBREQUEST_HTTP_ERROR, the practice's data missing from the answer).
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # Requests in flight when a stop signal comes get this long; then they are cancelled.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    Server(config).run()
    return 0
