"""Events between services: a transactional outbox, a relay to NATS JetStream, idempotent consumers.

A service that owns a fact publishes an event about its change with :func:`publish`, in the
same transaction as the change, into the ``outbox`` table of its own database: the event exists
if and only if the change commits, and publishing needs nothing but that database.

A :class:`Relay` moves committed outbox rows to the broker: the JetStream stream named after the
outbox stream (``performers``), on the subject ``<stream>.<type>``. The event id is the message
id (``Nats-Msg-Id``), so JetStream drops a message it already holds (within the stream's
duplicate window, two minutes). The relay is at-least-once: if it dies after the broker has
stored a batch and before marking the outbox rows, it sends them again.

Order. A relay sends a batch without waiting for each acknowledgement, and every message but the
first of a batch carries ``Nats-Expected-Last-Msg-Id``, the previous event's id: JetStream
stores a message only if the stream's last message is that one. A message lost in a reconnect
therefore fails every later one in its batch instead of being overtaken by them, and the relay
marks only the acknowledged prefix as relayed and sends the rest again. (JetStream checks the
message id before the expectation, so a resent message it already holds is acknowledged as a
duplicate rather than refused.) One relay per stream and outbox runs at a time, under an
advisory lock, so replicas do not interleave. The stream's order is the outbox's id order: a
producer that publishes after the write that locks an entity's row cannot give that entity's
next event an id until the previous change has committed.

A :class:`Consumer` keeps a service's own copy of another service's facts. It reads a stream
through a durable JetStream pull consumer of its own name, which lets one message be in flight
at a time (``max_ack_pending = 1``): the broker delivers the next event only once this one is
acknowledged, so events apply in stream order across restarts and replicas. Each event is
applied in one transaction of the consumer's own database, together with an ``inbox`` row, and
acknowledged after the commit: however often it is delivered (a lost acknowledgement, a broker
restart, a stream rebuilt from the outboxes) its effect happens once.

Failures. A handler raises :class:`MalformedEvent` for an event it can never apply (a payload
it cannot read). Such an event, like a message that is not an event at all, is *dead-lettered*:
its raw content and the reason go to the consumer's ``dead_letter`` table in the same
transaction as its inbox row, an error is logged, ``pcse_events_dead_lettered_total`` counts
it (alert on any increase), and the stream goes on. An operator fixes the data at its source
(the producer publishes a corrected event) or replays the row once the consumer can read it.
Any other failure (the database is down, a bug) is retried with capped exponential backoff
and holds the stream at that event, logged at every attempt, because skipping it would
silently lose a fact.

Wake-ups. A consumer long-polls the broker, so an event crosses as soon as it is stored.
``publish`` sends a PostgreSQL NOTIFY with the stream name on commit, which wakes a relay that
LISTENs on one pooled connection; polling every ``idle_seconds`` remains the guarantee, so a
lost notification costs latency, never an event.

Traces. ``publish`` stores the caller's trace context beside the event; the relay sends the
message as a child of that context with ``traceparent`` in its headers, and the consumer applies
it in a child of the message's span, so one trace follows a change across services.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import random
import re
import time
import uuid
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias, TypeVar, cast

import nats
import nats.errors
import nats.js.errors
from nats.js import api as js_api
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    any_,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pcse_kit import metrics
from pcse_kit.db import create_sessionmaker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence

    import asyncpg
    from nats.aio.client import Client as NatsClient
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext
    from sqlalchemy.engine import RowMapping
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "OUTBOX_CHANNEL",
    "Bus",
    "Consumer",
    "Event",
    "Handler",
    "MalformedEvent",
    "Relay",
    "Stall",
    "Worker",
    "dead_letter_table",
    "inbox_table",
    "outbox_table",
    "publish",
    "running",
    "subject",
]

logger = logging.getLogger("pcse.events")
tracer = trace.get_tracer("pcse.events")

OUTBOX_CHANNEL: Final = "pcse_outbox"
"""NOTIFY channel of a producer's own database; the payload is the stream."""

# Two-key advisory locks live in a key space of their own, apart from the one-key locks the
# migrations take.
_OUTBOX_LOCK: Final = 0x6F7574  # "out"

_FIRST_BACKOFF_SECONDS: Final = 0.5
_LISTEN_TIMEOUT_SECONDS: Final = 5.0
_LISTEN_RETRY_SECONDS: Final = 5.0
_DUPLICATE_WINDOW_SECONDS: Final = 120.0
_ACK_TIMEOUT_SECONDS: Final = 5.0
_CONNECT_TIMEOUT_SECONDS: Final = 5.0
_MAX_DEAD_LETTER_CHARACTERS: Final = 1_000_000

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _stream_key(stream: str) -> int:
    # Stable across processes and replicas, unlike hash(); a collision only serialises two
    # streams' relays, it cannot mix their events.
    return zlib.crc32(stream.encode()) & 0x7FFFFFFF


def subject(stream: str, type: str) -> str:
    """The subject an event of ``type`` travels on: ``<stream>.<type>``."""
    return f"{stream}.{type}"


def _check_name(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{kind} {value!r}: letters, digits, - and _ only")
    return value


def _check_type(value: str) -> str:
    # Each dot-separated part becomes a subject token: no spaces, no wildcards.
    if not all(_TOKEN.fullmatch(part) for part in value.split(".")):
        raise ValueError(f"event type {value!r}: dot-separated letters, digits, - and _")
    return value


# --------------------------------------------------------------------------------------------
# Tables


def outbox_table(metadata: MetaData, name: str = "outbox") -> Table:
    """The producer's outbox, declared in its own metadata so that its migrations create it."""
    table = Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("stream", Text, nullable=False),
        Column("type", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("occurred_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        Column("relayed_at", DateTime(timezone=True), nullable=True),
        # W3C trace context (traceparent, tracestate) of the change, when it was traced.
        Column("trace_context", JSONB, nullable=True),
    )
    # Relayed rows pile up; the relay's query must stay as cheap as the backlog is small.
    Index(
        f"ix_{name}_unrelayed",
        table.c.stream,
        table.c.id,
        postgresql_where=table.c.relayed_at.is_(None),
    )
    return table


def inbox_table(metadata: MetaData, name: str = "inbox") -> Table:
    """Events a consumer has applied or dead-lettered, by consumer, in the consumer's metadata.

    Keyed by consumer as well as event, so two consumers in one service can each apply the
    same event once. ``position`` is the event's sequence in its stream.
    """
    return Table(
        name,
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("stream", Text, nullable=False),
        Column("position", BigInteger, nullable=False),
        Column("applied_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        PrimaryKeyConstraint("consumer", "event_id", name=f"pk_{name}"),
    )


def dead_letter_table(metadata: MetaData, name: str = "dead_letter") -> Table:
    """Messages a consumer could not apply and set aside, with why; in the consumer's metadata.

    ``event_id`` and ``type`` are null when the message was not an event at all.
    """
    return Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("consumer", Text, nullable=False),
        Column("stream", Text, nullable=False),
        Column("position", BigInteger, nullable=False),
        Column("subject", Text, nullable=False),
        Column("event_id", Uuid, nullable=True),
        Column("type", Text, nullable=True),
        Column("message", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column(
            "dead_lettered_at", DateTime(timezone=True), server_default=func.now(), nullable=False
        ),
        UniqueConstraint("consumer", "stream", "position", name=f"uq_{name}_position"),
    )


# --------------------------------------------------------------------------------------------
# Publishing


def trace_context() -> dict[str, str] | None:
    """The current W3C trace context (``traceparent``, ``tracestate``) to keep with an outbox
    row, so the relay sends its event within the trace of the change; None outside a trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


async def publish(
    session: AsyncSession,
    table: Table,
    *,
    stream: str,
    type: str,
    key: str,
    payload: Mapping[str, Any],
) -> uuid.UUID:
    """Add an event to the outbox in the caller's transaction; it is sent only if that commits.

    ``payload`` must be JSON-ready (strings, numbers, booleans, lists, dicts, None). The
    stream needs a running :class:`Relay`, or its events wait in the outbox.
    """
    _check_name("stream", stream)
    _check_type(type)
    event_id = uuid.uuid4()
    await session.execute(
        insert(table)
        .values(
            event_id=event_id,
            stream=stream,
            type=type,
            key=key,
            payload=dict(payload),
            trace_context=trace_context(),
        )
        # The notification rides on the same statement: no extra round trip, and PostgreSQL
        # delivers it only when the transaction commits, folding repeats into one.
        .returning(func.pg_notify(OUTBOX_CHANNEL, stream))
    )
    return event_id


@dataclass(frozen=True)
class Event:
    """One event as read from the broker."""

    event_id: uuid.UUID
    stream: str
    type: str
    key: str
    payload: dict[str, Any]
    occurred_at: datetime
    position: int
    """The event's sequence in its stream."""


class MalformedEvent(ValueError):
    """An event its consumer can never apply; it is dead-lettered and the stream goes on."""


Handler: TypeAlias = "Callable[[AsyncSession, Event], Awaitable[None]]"
"""Applies one event through the given session; it must neither commit nor roll back."""


def _envelope(row: RowMapping) -> bytes:
    return json.dumps(
        {
            "eventId": str(row["event_id"]),
            "type": row["type"],
            "key": row["key"],
            "occurredAt": row["occurred_at"].isoformat(),
            "payload": row["payload"],
        },
        separators=(",", ":"),
    ).encode()


def _decode(stream: str, msg: Msg, position: int) -> Event:
    """The event a message carries; MalformedEvent if it is not one of ``stream``'s events."""
    try:
        body = json.loads(msg.data)
    except ValueError as error:
        raise MalformedEvent(f"not JSON: {error}") from None
    if not isinstance(body, dict):
        raise MalformedEvent("not a JSON object")
    try:
        event_id = uuid.UUID(str(body["eventId"]))
        type_, key, payload = body["type"], body["key"], body["payload"]
        occurred_at = datetime.fromisoformat(str(body["occurredAt"]))
    except (KeyError, ValueError) as error:
        raise MalformedEvent(f"not an event: {error!r}") from None
    if not isinstance(type_, str) or not isinstance(key, str) or not isinstance(payload, dict):
        raise MalformedEvent("type and key must be strings, payload an object")
    if msg.subject != subject(stream, type_):
        raise MalformedEvent(f"a {type_} event on subject {msg.subject}")
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return Event(
        event_id=event_id,
        stream=stream,
        type=type_,
        key=key,
        payload=payload,
        occurred_at=occurred_at,
        position=position,
    )


# --------------------------------------------------------------------------------------------
# The broker connection


class Bus:
    """One connection to the broker, shared by a service's relays and consumers.

    It connects on first use, and reconnects by itself (nats-py buffers what is published in
    the meantime); a broker that is not there yet is reported by the worker that needed it,
    which tries again with backoff.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        name: str,
        user: str | None = None,
        password: str | None = None,
        inbox_prefix: str | None = None,
        request_timeout: float = 5.0,
    ) -> None:
        self.servers = (
            [s.strip() for s in servers.split(",") if s.strip()]
            if isinstance(servers, str)
            else list(servers)
        )
        self.name = name
        self._user = user
        self._password = password
        # Replies to a service come under its own prefix, which the broker lets only it read.
        self.inbox_prefix = inbox_prefix or (f"_INBOX_{user}" if user else "_INBOX")
        self.request_timeout = request_timeout
        self._client: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self._connecting = False
        self._closing = False
        self.generation = 0
        """Counts connections made, so that workers redeclare what a new connection needs."""
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def jetstream(self) -> JetStreamContext:
        """The JetStream context, connecting first if need be."""
        async with self._lock:
            if self._client is None or self._client.is_closed:
                # Once connected, the client reconnects for ever by itself; the first
                # connection is bounded here instead, so that the worker that needed it
                # reports the failure and tries again with backoff.
                self._connecting = True
                try:
                    self._client = await asyncio.wait_for(
                        nats.connect(
                            servers=self.servers,
                            name=self.name,
                            user=self._user,
                            password=self._password,
                            inbox_prefix=self.inbox_prefix,
                            connect_timeout=2,
                            allow_reconnect=True,
                            max_reconnect_attempts=-1,
                            reconnect_time_wait=0.5,
                            error_cb=self._error,
                            disconnected_cb=self._disconnected,
                            reconnected_cb=self._reconnected,
                        ),
                        _CONNECT_TIMEOUT_SECONDS,
                    )
                except TimeoutError:
                    raise ConnectionError(
                        f"cannot connect to the broker at {', '.join(self.servers)}: "
                        f"{self.last_error or 'no answer'}"
                    ) from None
                finally:
                    self._connecting = False
                self._js = self._client.jetstream(timeout=self.request_timeout)
                self.generation += 1
            assert self._js is not None
            return self._js

    async def ping(self, within: float) -> None:
        """Raise unless the broker answers a round trip within ``within`` seconds."""
        client = self._client
        if client is None or not client.is_connected:
            raise ConnectionError(f"not connected to the broker ({self.last_error or 'never'})")
        # flush's timeout is typed int but used as seconds: whole seconds, at least one.
        await client.flush(timeout=max(int(within), 1))

    async def close(self) -> None:
        async with self._lock:
            client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            self._closing = True
            try:
                with contextlib.suppress(Exception):
                    await client.close()
            finally:
                self._closing = False

    async def _error(self, error: Exception) -> None:
        self.last_error = repr(error)
        if self._connecting:
            return  # the worker that is waiting for the connection reports it
        # A refused subject is the broker saying this service may not do something: loud.
        level = logging.ERROR if "permissions violation" in str(error).lower() else logging.WARNING
        logger.log(level, "broker connection %s: %s", self.name, error)

    async def _disconnected(self) -> None:
        if not self._closing:
            logger.warning("broker connection %s lost; reconnecting", self.name)

    async def _reconnected(self) -> None:
        logger.info("broker connection %s restored", self.name)


async def declare_stream(js: JetStreamContext, stream: str) -> None:
    """Create ``stream`` (subjects ``<stream>.>``) unless it exists; its owner's relay does this.

    An existing stream is left as it is: retention and replicas are the operator's to change.
    """
    try:
        await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        with contextlib.suppress(nats.js.errors.BadRequestError):
            # A replica may have created it meanwhile; the same config is not an error, and
            # a different one means an operator's stream, which stays.
            await js.add_stream(
                name=stream,
                subjects=[f"{stream}.>"],
                storage=js_api.StorageType.FILE,
                retention=js_api.RetentionPolicy.LIMITS,
                discard=js_api.DiscardPolicy.OLD,
                duplicate_window=_DUPLICATE_WINDOW_SECONDS,
            )


# --------------------------------------------------------------------------------------------
# Running in the background

_T = TypeVar("_T")


def _backoff(failures: int, cap: float) -> float:
    delay: float = min(cap, _FIRST_BACKOFF_SECONDS * 2 ** min(failures - 1, 30))
    # Jitter keeps replicas that failed together from retrying together.
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - not cryptography


async def _unless_stopped(
    work: Coroutine[Any, Any, _T], stopping: asyncio.Future[Any]
) -> _T | None:
    """``work``'s result, or None if stop came first; then ``work`` is cancelled.

    A worker stuck connecting to a database or a broker that is down must still stop at once.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return None if task.cancelled() else task.result()


async def _loop(
    label: str,
    step: Callable[[], Coroutine[Any, Any, float]],
    stop: asyncio.Event,
    *,
    max_backoff: float,
    pause: Callable[[float, asyncio.Future[Any]], Awaitable[None]],
    before: Callable[[asyncio.Future[Any]], Awaitable[None]] | None = None,
) -> None:
    """Run ``step`` until ``stop``, pausing as long as it says; errors back off and retry."""
    failures = 0
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            if before is not None and failures == 0:
                await before(stopping)
            try:
                wait = await _unless_stopped(step(), stopping)
            except _NotYet as error:
                failures += 1
                wait = _backoff(failures, max_backoff)
                if failures == 1:
                    logger.info("%s; waiting", error)
            except Exception as error:
                failures += 1
                wait = _backoff(failures, max_backoff)
                message = "%s failed (%d in a row); retrying in %.1f s"
                if failures == 1:
                    logger.exception(message, label, failures, wait)
                else:
                    # A long outage: the first traceback told the story; repeating it on
                    # every retry would bury the log.
                    logger.error(message + ": %r", label, failures, wait, error)  # noqa: TRY400 - deliberately without traceback
            else:
                failures = 0
            if wait is None:
                break
            if wait > 0:
                await pause(wait, stopping)
    finally:
        stopping.cancel()


async def _sleep(seconds: float, stopping: asyncio.Future[Any]) -> None:
    await asyncio.wait({stopping}, timeout=seconds)


class _Listener:
    """A LISTEN on its own pooled connection that sets ``wake`` for notifications it accepts."""

    def __init__(
        self, engine: AsyncEngine, channel: str, accept: frozenset[str], wake: asyncio.Event
    ) -> None:
        self._engine = engine
        self._channel = channel
        self._accept = accept
        self._wake = wake
        self._connection: AsyncConnection | None = None
        self._driver: asyncpg.Connection[Any] | None = None

    @property
    def active(self) -> bool:
        return self._driver is not None and not self._driver.is_closed()

    async def ensure(self) -> None:
        if self.active:
            return
        await self.close()
        connection = await self._engine.connect()
        try:
            raw = await connection.get_raw_connection()
            driver = cast("asyncpg.Connection[Any]", raw.driver_connection)
            await driver.add_listener(self._channel, self._notified)
            driver.add_termination_listener(self._lost)
        except BaseException:
            await self._discard(connection)
            raise
        self._connection, self._driver = connection, driver

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        if payload in self._accept:
            self._wake.set()

    def _lost(self, _connection: object) -> None:
        # Wake the loop so that it listens again, and polls meanwhile for what it missed.
        self._wake.set()

    async def close(self) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            await self._discard(connection)

    @staticmethod
    async def _discard(connection: AsyncConnection) -> None:
        # Invalidated rather than returned: a pooled connection would go on listening, and
        # calling our callback, for whoever borrows it next.
        with contextlib.suppress(Exception):
            await connection.invalidate()
        with contextlib.suppress(Exception):
            await connection.close()


class Worker(Protocol):
    """What runs in the background beside a service: a relay, a consumer, or a service's own
    worker of the same shape (one that sends what the events asked for)."""

    @property
    def label(self) -> str: ...

    async def run_forever(self, stop: asyncio.Event, *, idle_seconds: float = 0.5) -> None: ...


@asynccontextmanager
async def running(*workers: Worker, idle_seconds: float = 0.5) -> AsyncIterator[None]:
    """Run ``workers`` in the background for the body, e.g. an application's lifespan."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(worker.run_forever(stop, idle_seconds=idle_seconds), name=worker.label)
        for worker in workers
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


# --------------------------------------------------------------------------------------------
# Producer side


class Relay:
    """Moves one stream's committed outbox rows to the broker, in outbox id order."""

    def __init__(
        self,
        outbox_engine: AsyncEngine,
        bus: Bus,
        table: Table,
        *,
        stream: str,
        batch: int = 500,
        ack_timeout: float = _ACK_TIMEOUT_SECONDS,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._outbox = outbox_engine
        self._bus = bus
        self._table = table
        self.stream = _check_name("stream", stream)
        self._batch = batch
        self._ack_timeout = ack_timeout
        self._max_backoff = max_backoff_seconds
        self._lock_key = _stream_key(stream)
        self._declared = -1
        self._wake = asyncio.Event()
        self._listener = _Listener(outbox_engine, OUTBOX_CHANNEL, frozenset({stream}), self._wake)
        self._listen_after = 0.0

    @property
    def label(self) -> str:
        return f"relay of {self.stream!r}"

    @property
    def listening(self) -> bool:
        """Whether notifications currently wake this relay (else it only polls)."""
        return self._listener.active

    async def run_once(self) -> int:
        """Move up to ``batch`` unrelayed rows to the broker; how many were moved.

        Returns 0 without waiting while another relay of the same stream (a replica) is busy.
        Raises when the broker refused or did not acknowledge the first event of the batch.
        """
        js = await self._bus.jetstream()
        if self._declared != self._bus.generation:
            await declare_stream(js, self.stream)
            self._declared = self._bus.generation
        try:
            return await self._move(js)
        except BaseException:
            # The stream may have been deleted; declare it again next time.
            self._declared = -1
            raise

    async def backlog(self) -> int:
        """Committed events of this stream still waiting in the outbox."""
        t = self._table
        async with self._outbox.connect() as connection:
            count = await connection.scalar(
                select(func.count()).where(t.c.stream == self.stream, t.c.relayed_at.is_(None))
            )
        return int(count or 0)

    async def _move(self, js: JetStreamContext) -> int:
        t = self._table
        async with self._outbox.begin() as outbox:
            # One relay per stream and outbox at a time: two replicas sending overlapping
            # batches would interleave them on the stream.
            mine = await outbox.scalar(
                select(func.pg_try_advisory_xact_lock(_OUTBOX_LOCK, self._lock_key))
            )
            if not mine:
                return 0
            rows = (
                (
                    await outbox.execute(
                        select(
                            t.c.id,
                            t.c.event_id,
                            t.c.type,
                            t.c.key,
                            t.c.payload,
                            t.c.occurred_at,
                            t.c.trace_context,
                        )
                        .where(t.c.stream == self.stream, t.c.relayed_at.is_(None))
                        .order_by(t.c.id)
                        .limit(self._batch)
                    )
                )
                .mappings()
                .all()
            )
            if not rows:
                return 0
            acknowledged, error = await self._send(js, rows)
            if acknowledged:
                ids = [row["id"] for row in rows[:acknowledged]]
                await outbox.execute(
                    update(t)
                    .where(t.c.id == any_(literal(ids, ARRAY(BigInteger))))
                    .values(relayed_at=func.now())
                )
        metrics.EVENTS_RELAYED.labels(self.stream).inc(acknowledged)
        if error is not None:
            if not acknowledged:
                raise error
            # What was acknowledged is marked; the rest goes again at once, in order.
            logger.warning(
                "%s: %d of %d events acknowledged, the rest go again: %r",
                self.label,
                acknowledged,
                len(rows),
                error,
            )
        return acknowledged

    async def _send(
        self, js: JetStreamContext, rows: Sequence[RowMapping]
    ) -> tuple[int, Exception | None]:
        """Send ``rows`` without waiting in between; how many were acknowledged in order."""
        pending: list[tuple[asyncio.Future[js_api.PubAck], trace.Span]] = []
        previous: str | None = None
        try:
            for row in rows:
                event_id = str(row["event_id"])
                headers = {"Nats-Msg-Id": event_id}
                if previous is not None:
                    headers["Nats-Expected-Last-Msg-Id"] = previous
                previous = event_id
                span = tracer.start_span(
                    f"publish {subject(self.stream, row['type'])}",
                    context=propagate.extract(row["trace_context"] or {}),
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "nats",
                        "messaging.operation.type": "publish",
                        "messaging.destination.name": subject(self.stream, row["type"]),
                        "messaging.message.id": event_id,
                    },
                )
                propagate.inject(headers, context=trace.set_span_in_context(span))
                try:
                    future = await js.publish_async(
                        subject(self.stream, row["type"]), _envelope(row), headers=headers
                    )
                except BaseException:
                    span.end()
                    raise
                pending.append((future, span))
        except Exception as error:  # noqa: BLE001 - whatever stopped the sending is reported
            # Could not even send (a closed connection): nothing after this goes either.
            outcome = await self._settle(pending)
            return outcome[0], outcome[1] or error
        return await self._settle(pending)

    async def _settle(
        self, pending: list[tuple[asyncio.Future[js_api.PubAck], trace.Span]]
    ) -> tuple[int, Exception | None]:
        acknowledged = 0
        error: Exception | None = None
        deadline = time.monotonic() + self._ack_timeout
        for future, span in pending:
            if error is None:
                try:
                    await asyncio.wait_for(future, max(deadline - time.monotonic(), 0.001))
                    acknowledged += 1
                    span.end()
                    continue
                except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as failure:
                    error = failure
            # After the first failure nothing more counts: later events may have been stored,
            # and go again, deduplicated; their futures are cancelled to free their slots.
            future.cancel()
            span.set_status(Status(StatusCode.ERROR, "not acknowledged in order"))
            span.end()
        return acknowledged, error

    async def run_forever(self, stop: asyncio.Event, *, idle_seconds: float = 0.5) -> None:
        """Relay until ``stop`` is set, woken by notifications, polling every ``idle_seconds``.

        Errors are logged and retried with capped exponential backoff, so a database or a
        broker that goes away and comes back needs no restart of ours.
        """

        async def step() -> float:
            # Cleared before the round, so a notification during it is not lost.
            self._wake.clear()
            return 0.0 if await self.run_once() else idle_seconds

        try:
            await _loop(
                self.label,
                step,
                stop,
                max_backoff=self._max_backoff,
                pause=self._pause,
                before=self._listen,
            )
        finally:
            await self._listener.close()

    async def _listen(self, stopping: asyncio.Future[Any]) -> None:
        if self._listener.active:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._listen_after:
            return
        try:
            # Bounded: a pool with no connection to spare must not hold up the work itself.
            async with asyncio.timeout(_LISTEN_TIMEOUT_SECONDS):
                await _unless_stopped(self._listener.ensure(), stopping)
        except Exception:
            self._listen_after = loop.time() + _LISTEN_RETRY_SECONDS
            logger.warning("%s cannot listen for notifications; polling", self.label, exc_info=True)

    async def _pause(self, seconds: float, stopping: asyncio.Future[Any]) -> None:
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {woken, stopping}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()


# --------------------------------------------------------------------------------------------
# Consumer side


@dataclass(frozen=True)
class Stall:
    """An event a consumer has failed to apply; its stream waits for it and is retried."""

    event: Event | None
    position: int
    attempts: int
    error: str


class _Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    FAILED = "failed"


class _NotYet(Exception):
    """Something a worker needs is not there yet and will be: said once, then waited for."""


class _Reader:
    """One stream's durable pull consumer, bound once per broker connection."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.subscription: JetStreamContext.PullSubscription | None = None
        self.generation = -1


class Consumer:
    """Applies a set of streams' events to this service's database, each exactly once in effect.

    The handler gets a session inside the event's transaction. Its effect is exactly-once only
    if it writes through that session alone (no HTTP calls, no other database) and neither
    commits nor rolls back. :class:`MalformedEvent` dead-letters the event and the stream goes
    on; any other exception rolls the event back and holds its stream at that event, retried
    with backoff and logged at every attempt (see :attr:`stalled`). Other streams go on.

    Several instances with the same ``name`` (replicas) may run at once: they share one
    durable consumer per stream, which hands out one event at a time, so each event takes
    effect once and in order. Different names are independent readers of the same streams.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | AsyncEngine,
        bus: Bus,
        *,
        name: str,
        streams: Sequence[str],
        handler: Handler,
        inbox: Table,
        dead_letters: Table,
        ack_wait_seconds: float = 10.0,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        if not streams or len(set(streams)) != len(streams):
            raise ValueError("streams must be given, each once")
        self._sessions = (
            create_sessionmaker(sessions) if isinstance(sessions, AsyncEngine) else sessions
        )
        self._bus = bus
        self.name = _check_name("consumer name", name)
        self.streams = tuple(_check_name("stream", s) for s in streams)
        self._handler = handler
        self._inbox = inbox
        self._dead_letters = dead_letters
        self._ack_wait = ack_wait_seconds
        self._max_backoff = max_backoff_seconds
        self._readers = {stream: _Reader(stream) for stream in self.streams}
        self._stalls: dict[str, Stall] = {}
        self.lag: dict[str, int] = {}
        """Events of each stream not yet delivered to this consumer, as last seen."""

    @property
    def label(self) -> str:
        return f"consumer {self.name!r}"

    @property
    def stalled(self) -> dict[str, Stall]:
        """Streams held up by an event that failed, by stream: for health checks and alerts."""
        return dict(self._stalls)

    async def run_once(self, wait: float = 0.2) -> int:
        """Apply what each stream has now; how many events it got past.

        That counts events applied, found in the inbox (applied before) and dead-lettered.
        A stream stops at an event that fails, until the broker delivers it again.
        """
        done = 0
        for stream in self.streams:
            while True:
                outcome = await self._next(stream, wait)
                if outcome is None or outcome is _Outcome.FAILED:
                    break
                done += 1
        return done

    async def run_forever(self, stop: asyncio.Event, *, idle_seconds: float = 0.5) -> None:
        """Consume until ``stop`` is set: one loop per stream, long-polling the broker.

        ``idle_seconds`` bounds each poll; an event crosses as soon as the broker has it.
        """

        def step_for(stream: str) -> Callable[[], Coroutine[Any, Any, float]]:
            async def step() -> float:
                # No pause even after a failure: the broker redelivers the event after the
                # delay the failure asked for, and the next poll waits for it.
                await self._next(stream, max(idle_seconds, 0.05))
                return 0.0

            return step

        await asyncio.gather(
            *(
                _loop(
                    f"{self.label} on {stream!r}",
                    step_for(stream),
                    stop,
                    max_backoff=self._max_backoff,
                    pause=_sleep,
                )
                for stream in self.streams
            )
        )
        for reader in self._readers.values():
            await self._unbind(reader)

    async def _bind(self, reader: _Reader) -> JetStreamContext.PullSubscription:
        js = await self._bus.jetstream()
        if reader.subscription is None or reader.generation != self._bus.generation:
            await self._unbind(reader)
            # One event in flight: the next is delivered only once this one is acknowledged,
            # which keeps the stream's order across replicas, restarts and retries.
            config = js_api.ConsumerConfig(
                durable_name=self.name,
                name=self.name,
                deliver_policy=js_api.DeliverPolicy.ALL,
                ack_policy=js_api.AckPolicy.EXPLICIT,
                ack_wait=self._ack_wait,
                max_ack_pending=1,
                max_deliver=-1,
            )
            try:
                await js.add_consumer(reader.stream, config)
            except nats.js.errors.NotFoundError:
                raise _NotYet(
                    f"{self.label}: stream {reader.stream!r} does not exist yet; its owner's "
                    "relay declares it when it starts"
                ) from None
            reader.subscription = await js.pull_subscribe_bind(
                durable=self.name, stream=reader.stream
            )
            reader.generation = self._bus.generation
        return reader.subscription

    @staticmethod
    async def _unbind(reader: _Reader) -> None:
        subscription, reader.subscription = reader.subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _next(self, stream: str, wait: float) -> _Outcome | None:
        """Fetch and handle the stream's next event; None if none came within ``wait``."""
        reader = self._readers[stream]
        subscription = await self._bind(reader)
        try:
            [msg] = await subscription.fetch(1, timeout=wait)
        except nats.errors.TimeoutError:
            self.lag[stream] = 0
            metrics.CONSUMER_LAG.labels(self.name, stream).set(0)
            return None
        except nats.js.errors.APIError:
            # The consumer or the stream was deleted (a rebuilt broker): declare it again.
            reader.generation = -1
            raise
        return await self._handle(stream, msg)

    async def _handle(self, stream: str, msg: Msg) -> _Outcome:
        meta = msg.metadata
        position = meta.sequence.stream
        self.lag[stream] = meta.num_pending
        metrics.CONSUMER_LAG.labels(self.name, stream).set(meta.num_pending)
        parent = propagate.extract(dict(msg.headers or {}))
        with tracer.start_as_current_span(
            f"process {msg.subject}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": msg.subject,
                "messaging.consumer.group.name": self.name,
                "messaging.nats.stream_sequence": position,
            },
        ) as span:
            event: Event | None = None
            try:
                event = _decode(stream, msg, position)
                span.set_attribute("messaging.message.id", str(event.event_id))
                outcome = await self._apply(event)
            except MalformedEvent as error:
                outcome = await self._dead_letter(stream, msg, position, event, error)
            except asyncio.CancelledError:
                # Stopping: hand the event back so that the next reader gets it at once,
                # rather than after the ack wait.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(msg.nak(), 1.0)
                raise
            except Exception as error:  # noqa: BLE001 - held and retried, see _stall
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                await self._stall(stream, msg, position, event, error)
                return _Outcome.FAILED
        self._stalls.pop(stream, None)
        metrics.CONSUMER_STALLED.labels(self.name, stream).set(0)
        metrics.EVENTS_CONSUMED.labels(self.name, stream, outcome.value).inc()
        if event is not None and outcome is _Outcome.APPLIED:
            metrics.EVENT_DELAY.labels(self.name, stream).observe(
                max((datetime.now(UTC) - event.occurred_at).total_seconds(), 0.0)
            )
        try:
            await msg.ack_sync(timeout=self._bus.request_timeout)
        except Exception:
            # Applied and committed; if the broker missed the acknowledgement it delivers the
            # event again after the ack wait, and the inbox makes that a no-op.
            logger.warning("%s: acknowledgement of %s lost", self.label, msg.subject, exc_info=True)
        return outcome

    async def _apply(self, event: Event) -> _Outcome:
        inbox = self._inbox
        async with self._sessions() as session:  # noqa: SIM117 - the comment belongs inside
            async with session.begin():
                # A concurrent delivery of the same event (a replica that got it after an ack
                # was lost) waits on this row, then finds it taken.
                fresh = await session.execute(
                    pg_insert(inbox)
                    .values(
                        consumer=self.name,
                        event_id=event.event_id,
                        stream=event.stream,
                        position=event.position,
                    )
                    .on_conflict_do_nothing()
                    .returning(inbox.c.event_id)
                )
                if fresh.first() is None:
                    return _Outcome.DUPLICATE
                # MalformedEvent rolls back what the handler wrote, inbox row included; the
                # event is then set aside in a transaction of its own.
                await self._handler(session, event)
        return _Outcome.APPLIED

    async def _dead_letter(
        self,
        stream: str,
        msg: Msg,
        position: int,
        event: Event | None,
        error: MalformedEvent,
    ) -> _Outcome:
        text = msg.data.decode(errors="replace")[:_MAX_DEAD_LETTER_CHARACTERS]
        async with self._sessions() as session, session.begin():
            if event is not None:
                fresh = await session.execute(
                    pg_insert(self._inbox)
                    .values(
                        consumer=self.name,
                        event_id=event.event_id,
                        stream=stream,
                        position=position,
                    )
                    .on_conflict_do_nothing()
                    .returning(self._inbox.c.event_id)
                )
                if fresh.first() is None:
                    return _Outcome.DUPLICATE
            await session.execute(
                pg_insert(self._dead_letters)
                .values(
                    consumer=self.name,
                    stream=stream,
                    position=position,
                    subject=msg.subject,
                    event_id=None if event is None else event.event_id,
                    type=None if event is None else event.type,
                    message=text,
                    error=str(error) or type(error).__name__,
                )
                .on_conflict_do_nothing()
            )
        metrics.EVENTS_DEAD_LETTERED.labels(self.name, stream).inc()
        logger.error(
            "%s: dead-lettered %s at position %d of stream %r (event %s): %s; "
            "the stream goes on, the message is in the dead_letter table",
            self.label,
            msg.subject,
            position,
            stream,
            None if event is None else event.event_id,
            error,
        )
        return _Outcome.DEAD_LETTERED

    async def _stall(
        self, stream: str, msg: Msg, position: int, event: Event | None, error: Exception
    ) -> None:
        previous = self._stalls.get(stream)
        attempts = previous.attempts + 1 if previous and previous.position == position else 1
        stall = Stall(event=event, position=position, attempts=attempts, error=repr(error))
        self._stalls[stream] = stall
        metrics.CONSUMER_STALLED.labels(self.name, stream).set(1)
        delay = _backoff(attempts, self._max_backoff)
        # Never skipped: the broker holds every later event until this one is acknowledged.
        logger.error(
            "%s: %s (stream %r, position %d, key %r) failed, attempt %d; "
            "the stream waits for it, next try in %.1f s",
            self.label,
            msg.subject,
            stream,
            position,
            None if event is None else event.key,
            attempts,
            delay,
            exc_info=error,
        )
        with contextlib.suppress(Exception):
            await msg.nak(delay=delay)
