"""Per-request measurements: an ASGI middleware for HTTP, a Strawberry extension for GraphQL.

Both feed :mod:`pcse_kit.metrics`; the middleware also writes one log line per request, which
carries the trace id when tracing is on.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace
from strawberry.extensions import SchemaExtension

from pcse_kit import metrics

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["OperationMetrics", "RequestMetrics"]

logger = logging.getLogger("pcse.http")

ROUTES: Final = frozenset({"/graphql", "/healthz", "/readyz", "/metrics"})
QUIET_ROUTES: Final = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: logged at debug level, or they would be most of the log."""
_CODE = re.compile(r"[A-Z][A-Z_]{0,39}")


class RequestMetrics:
    """Counts, times and logs every HTTP request, by method, route and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            path: str = scope.get("path", "")
            route = path if path in ROUTES else "other"
            method: str = scope.get("method", "")
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_DURATION.labels(method, route).observe(elapsed)
            logger.log(
                logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
                "%s %s %d %.1f ms",
                method,
                route,
                status,
                elapsed * 1000,
                extra={
                    "http_method": method,
                    "http_route": route,
                    "http_status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


class OperationMetrics(SchemaExtension):
    """Counts and times each GraphQL operation by type, name and outcome.

    The outcome is ``ok``, or the ``extensions.code`` of the first error, lower-cased
    (``bad_user_input``, ``forbidden``, ...), or ``invalid`` for an error without one (a
    document that does not parse or validate). The operation's name and type also go on the
    request's span.
    """

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        context = self.execution_context
        name = metrics.operation_label(context.operation_name)
        try:
            kind = context.operation_type.value
        except Exception:  # noqa: BLE001 - a document that does not parse has no type
            kind = "unknown"
        result = context.result
        errors: list[Any] = list(
            getattr(result, "errors", None) or context.pre_execution_errors or []
        )
        outcome = "ok"
        if errors:
            code = (getattr(errors[0], "extensions", None) or {}).get("code")
            outcome = code.lower() if isinstance(code, str) and _CODE.fullmatch(code) else "invalid"
        metrics.GRAPHQL_OPERATIONS.labels(kind, name, outcome).inc()
        metrics.GRAPHQL_DURATION.labels(kind, name).observe(elapsed)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("graphql.operation.type", kind)
            span.set_attribute("graphql.operation.name", context.operation_name or "")
            span.set_attribute("graphql.outcome", outcome)
