"""Prometheus metrics of a service, served on ``/metrics``.

Metrics carry no ``service`` label: each process serves one service, and Prometheus names the
target (``job``, ``instance``) itself. Every label has a bounded set of values: operation names
come from clients, so only well-formed ones count, and only the first
:data:`MAX_OPERATION_NAMES` of them; the rest are ``other``.

Some figures are read when Prometheus asks rather than kept up to date: the connection pools
(read from the pools themselves) and the outbox backlog (one indexed count per stream, by the
callbacks registered with :func:`before_scrape`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from typing import TYPE_CHECKING, Final

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from prometheus_client.core import Metric
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "CONTENT_TYPE",
    "before_scrape",
    "operation_label",
    "render",
    "watch_pool",
]

logger = logging.getLogger("pcse.metrics")

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
MAX_OPERATION_NAMES: Final = 200
SCRAPE_REFRESH_SECONDS: Final = 2.0

# Seconds; a request to a subgraph takes milliseconds, an import or an export seconds.
_LATENCY_BUCKETS: Final = (
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
_DELAY_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

HTTP_REQUESTS: Final = Counter(
    "pcse_http_requests",
    "HTTP requests answered, by method, route and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION: Final = Histogram(
    "pcse_http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its answer.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
GRAPHQL_OPERATIONS: Final = Counter(
    "pcse_graphql_operations",
    "GraphQL operations executed, by type, name and outcome (ok, or the first error's code).",
    ["operation_type", "operation", "outcome"],
)
GRAPHQL_DURATION: Final = Histogram(
    "pcse_graphql_operation_duration_seconds",
    "Time to parse, validate and execute a GraphQL operation.",
    ["operation_type", "operation"],
    buckets=_LATENCY_BUCKETS,
)
EVENTS_RELAYED: Final = Counter(
    "pcse_events_relayed",
    "Events the relay has moved from the outbox to the broker, acknowledged.",
    ["stream"],
)
OUTBOX_BACKLOG: Final = Gauge(
    "pcse_outbox_backlog_events",
    "Committed events still waiting in the outbox for the relay.",
    ["stream"],
)
EVENTS_CONSUMED: Final = Counter(
    "pcse_events_consumed",
    "Events a consumer got past: applied, duplicate (in the inbox already) or dead_lettered.",
    ["consumer", "stream", "outcome"],
)
EVENTS_DEAD_LETTERED: Final = Counter(
    "pcse_events_dead_lettered",
    "Events a consumer could never apply and set aside in its dead_letter table; alert on any.",
    ["consumer", "stream"],
)
CONSUMER_LAG: Final = Gauge(
    "pcse_consumer_lag_events",
    "Events of the stream the broker holds that this consumer has not been delivered yet.",
    ["consumer", "stream"],
)
CONSUMER_STALLED: Final = Gauge(
    "pcse_consumer_stalled",
    "1 while the consumer's stream waits on an event that failed and is being retried.",
    ["consumer", "stream"],
)
EVENT_DELAY: Final = Histogram(
    "pcse_event_delivery_delay_seconds",
    "Time from an event's commit in its producer to its application by this consumer.",
    ["consumer", "stream"],
    buckets=_DELAY_BUCKETS,
)

_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_seen_operations: set[str] = set()
_seen_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    """A bounded label for a client-chosen operation name."""
    if not name:
        return "anonymous"
    if not _OPERATION_NAME.fullmatch(name):
        return "invalid"
    with _seen_lock:
        if name in _seen_operations:
            return name
        if len(_seen_operations) >= MAX_OPERATION_NAMES:
            return "other"
        _seen_operations.add(name)
    return name


class _PoolCollector(Collector):
    """Connections of each watched engine's pool, read at scrape time."""

    def __init__(self) -> None:
        self._engines: dict[str, AsyncEngine] = {}

    def watch(self, name: str, engine: AsyncEngine) -> None:
        self._engines[name] = engine

    def forget(self, name: str, engine: AsyncEngine) -> None:
        if self._engines.get(name) is engine:
            del self._engines[name]

    def collect(self) -> Iterator[Metric]:
        connections = GaugeMetricFamily(
            "pcse_db_pool_connections",
            "Database connections of the pool: checked_out (in use), idle, overflow (beyond "
            "the pool size, in use or idle).",
            labels=["pool", "state"],
        )
        size = GaugeMetricFamily(
            "pcse_db_pool_size", "Connections the pool keeps (before overflow).", labels=["pool"]
        )
        for name, engine in list(self._engines.items()):
            pool = engine.sync_engine.pool
            if not isinstance(pool, QueuePool):
                continue
            connections.add_metric([name, "checked_out"], pool.checkedout())
            connections.add_metric([name, "idle"], pool.checkedin())
            connections.add_metric([name, "overflow"], max(pool.overflow(), 0))
            size.add_metric([name], pool.size())
        yield connections
        yield size


_pools = _PoolCollector()
REGISTRY.register(_pools)

_refreshers: list[Callable[[], Awaitable[None]]] = []


@contextlib.contextmanager
def watch_pool(name: str, engine: AsyncEngine) -> Iterator[None]:
    """Report ``engine``'s pool as ``pool=name`` while the body runs."""
    _pools.watch(name, engine)
    try:
        yield
    finally:
        _pools.forget(name, engine)


@contextlib.contextmanager
def before_scrape(refresh: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """Await ``refresh`` before each scrape while the body runs (e.g. count a backlog)."""
    _refreshers.append(refresh)
    try:
        yield
    finally:
        _refreshers.remove(refresh)


async def render() -> bytes:
    """The metrics in Prometheus' text format, refreshed first where that is cheap.

    A refresh that fails or takes over :data:`SCRAPE_REFRESH_SECONDS` leaves its figure as it
    was: a scrape must answer while the database is down, which is when it matters most.
    """
    refreshers = list(_refreshers)
    if refreshers:
        results = await asyncio.gather(
            *(asyncio.wait_for(refresh(), SCRAPE_REFRESH_SECONDS) for refresh in refreshers),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                logger.warning("a metric could not be refreshed: %r", result)
    return _generate_latest(REGISTRY)
