"""Events between services: a transactional outbox, a relay to a bus, and idempotent consumers.

A service that owns a fact publishes an event about its change with :func:`publish`, in the
same transaction as the change, into the ``outbox`` table of its own database: the event exists
if and only if the change commits, and publishing needs nothing but that database.

A :class:`Relay` moves committed outbox rows to the bus. On one machine the bus is a PostgreSQL
database of its own (its ``event`` table stands in for a NATS JetStream or Kafka stream). The
relay is at-least-once: if it dies after the bus commit and before marking the outbox rows, it
sends them again, and the bus drops them by ``event_id``.

A :class:`Consumer` keeps a service's own copy of another service's facts. It applies each event
in one transaction of its own database, together with an ``inbox`` row and the advance of its
stored position, so the effect happens exactly once however often the event is delivered.

Ordering. Bus positions come from one identity column. The relay for a stream inserts under a
bus-side advisory lock for that stream, so the next relay transaction of the stream can take
positions only after the previous one has committed: within a stream, a reader that sees
position p has already been able to see every smaller position of that stream, and reading
``position > last`` never skips one. Sequence caching would break this; the identity keeps the
default of no cache. The bus order of a stream is the relay's order: it takes committed outbox
rows by id, so a row whose transaction got a smaller id but committed later goes out in a later
batch, after rows with larger ids. That is still the commit order wherever order matters: a
producer that publishes after the write that locks an entity's row cannot give that entity's
next event an id until the previous change has committed.

Wake-ups. ``publish`` and the relay each send a PostgreSQL NOTIFY with the stream name on
commit; a running relay or consumer LISTENs (asyncpg's ``add_listener``) on one connection of
its engine's pool, held while it runs, so that an event crosses in milliseconds. Polling every
``idle_seconds`` remains the guarantee, so a lost notification or a dropped listening
connection costs latency, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import uuid
import zlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, cast

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

from pcse_kit.db import create_sessionmaker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine, Mapping
    from datetime import datetime

    import asyncpg
    from sqlalchemy.engine import RowMapping
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "BUS_CHANNEL",
    "BUS_EVENT",
    "OUTBOX_CHANNEL",
    "Consumer",
    "Event",
    "Handler",
    "Relay",
    "Stall",
    "bus_metadata",
    "consumer_position_table",
    "ensure_bus",
    "inbox_table",
    "outbox_table",
    "publish",
    "running",
]

logger = logging.getLogger("pcse.events")

OUTBOX_CHANNEL: Final = "pcse_outbox"
"""NOTIFY channel of a producer's own database; the payload is the stream."""
BUS_CHANNEL: Final = "pcse_events"
"""NOTIFY channel of the bus database; the payload is the stream."""

# Two-key advisory locks live in a key space of their own, apart from the one-key locks the
# migrations take. Outbox and bus locks differ in their first key so that a bus sharing the
# producer's database cannot make a relay wait on itself.
_OUTBOX_LOCK: Final = 0x6F7574  # "out"
_BUS_LOCK: Final = 0x627573  # "bus"
_BUS_SCHEMA_LOCK: Final = 0x736368  # "sch"

_FIRST_BACKOFF_SECONDS: Final = 0.5
_LISTEN_TIMEOUT_SECONDS: Final = 5.0
_LISTEN_RETRY_SECONDS: Final = 5.0


def _stream_key(stream: str) -> int:
    # Stable across processes and replicas, unlike hash(); a collision only serialises two
    # streams' relays, it cannot mix their events.
    return zlib.crc32(stream.encode()) & 0x7FFFFFFF


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
    """Events a consumer has applied, by consumer, declared in the consumer's own metadata.

    Keyed by consumer as well as event, so two consumers in one service can each apply the
    same event once.
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


def consumer_position_table(metadata: MetaData, name: str = "consumer_position") -> Table:
    """How far each consumer has read each stream, declared in the consumer's own metadata."""
    return Table(
        name,
        metadata,
        Column("consumer", Text, nullable=False),
        Column("stream", Text, nullable=False),
        Column("position", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        PrimaryKeyConstraint("consumer", "stream", name=f"pk_{name}"),
    )


_BUS = MetaData()

BUS_EVENT: Final = Table(
    "event",
    _BUS,
    # ALWAYS: a position is the bus's to give, never the writer's.
    Column("position", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("stream", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Index("ix_event_stream_position", "stream", "position"),
)
"""The bus's one table. It belongs to no service, so it is created on first use, not migrated."""


def bus_metadata() -> MetaData:
    return _BUS


async def ensure_bus(engine: AsyncEngine) -> None:
    """Create the bus table unless it exists; safe to call from many processes at once."""
    async with engine.begin() as connection:
        # create_all checks, then creates: two callers at once could both decide to create.
        await connection.execute(select(func.pg_advisory_xact_lock(_BUS_SCHEMA_LOCK, 0)))
        await connection.run_sync(_BUS.create_all)


# --------------------------------------------------------------------------------------------
# Publishing


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
    event_id = uuid.uuid4()
    await session.execute(
        insert(table)
        .values(event_id=event_id, stream=stream, type=type, key=key, payload=dict(payload))
        # The notification rides on the same statement: no extra round trip, and PostgreSQL
        # delivers it only when the transaction commits, folding repeats into one.
        .returning(func.pg_notify(OUTBOX_CHANNEL, stream))
    )
    return event_id


@dataclass(frozen=True)
class Event:
    """One event as read from the bus."""

    event_id: uuid.UUID
    stream: str
    type: str
    key: str
    payload: dict[str, Any]
    occurred_at: datetime
    position: int


Handler: TypeAlias = Callable[[AsyncSession, Event], Awaitable[None]]
"""Applies one event through the given session; it must neither commit nor roll back."""


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

    A worker stuck connecting to a database that is down must still stop at once.
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


class _Worker(ABC):
    """The loop shared by relays and consumers: work, wait for a nudge or a tick, survive."""

    def __init__(
        self,
        listen_engine: AsyncEngine,
        channel: str,
        accept: frozenset[str],
        *,
        max_backoff_seconds: float,
    ) -> None:
        self._wake = asyncio.Event()
        self._listener = _Listener(listen_engine, channel, accept, self._wake)
        self._max_backoff = max_backoff_seconds
        self._listen_after = 0.0

    @property
    @abstractmethod
    def label(self) -> str: ...

    @abstractmethod
    async def _step(self, idle_seconds: float) -> float:
        """Do one round of work; how long the loop may wait before the next one."""

    @property
    def listening(self) -> bool:
        """Whether a notification wakes this worker now; otherwise it polls."""
        return self._listener.active

    def nudge(self) -> None:
        """Run the next round now rather than after the idle wait."""
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event, *, idle_seconds: float = 0.5) -> None:
        """Work until ``stop`` is set, then return promptly, even in the middle of a round.

        Errors are logged and retried with capped exponential backoff, so a database that goes
        away and comes back needs no restart of ours. Run one loop per worker object.
        """
        failures = 0
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                # Not while the database is failing: the round's own error says it already.
                if failures == 0 and not self._listener.active:
                    await _unless_stopped(self._listen(), stopping)
                # Cleared before the round, so a notification during it is not lost.
                self._wake.clear()
                try:
                    pause = await _unless_stopped(self._step(idle_seconds), stopping)
                except Exception as error:
                    failures += 1
                    pause = _backoff(failures, self._max_backoff)
                    message = "%s failed (%d in a row); retrying in %.1f s"
                    if failures == 1:
                        logger.exception(message, self.label, failures, pause)
                    else:
                        # A long outage: the first traceback told the story; repeating it on
                        # every retry would bury the log.
                        logger.error(message + ": %r", self.label, failures, pause, error)  # noqa: TRY400 - deliberately without traceback
                else:
                    failures = 0
                if pause is None:
                    break
                if pause > 0:
                    await self._pause(pause, stopping)
        finally:
            stopping.cancel()
            await self._listener.close()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._listen_after:
            return
        try:
            # Bounded: a pool with no connection to spare must not hold up the work itself.
            async with asyncio.timeout(_LISTEN_TIMEOUT_SECONDS):
                await self._listener.ensure()
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


@asynccontextmanager
async def running(*workers: Relay | Consumer, idle_seconds: float = 0.5) -> AsyncIterator[None]:
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


class Relay(_Worker):
    """Moves one stream's committed outbox rows to the bus, in outbox id order."""

    def __init__(
        self,
        outbox_engine: AsyncEngine,
        bus_engine: AsyncEngine,
        table: Table,
        *,
        stream: str,
        batch: int = 500,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        super().__init__(
            outbox_engine,
            OUTBOX_CHANNEL,
            frozenset({stream}),
            max_backoff_seconds=max_backoff_seconds,
        )
        self._outbox = outbox_engine
        self._bus = bus_engine
        self._table = table
        self.stream = stream
        self._batch = batch
        self._lock_key = _stream_key(stream)
        self._bus_ready = False

    @property
    def label(self) -> str:
        return f"relay of {self.stream!r}"

    async def run_once(self) -> int:
        """Move up to ``batch`` unrelayed rows to the bus; how many were moved.

        Returns 0 without waiting while another relay of the same stream (a replica) is busy.
        """
        if not self._bus_ready:
            await ensure_bus(self._bus)
            self._bus_ready = True
        try:
            return await self._move()
        except BaseException:
            # The bus may have been rebuilt without its table; check again next time.
            self._bus_ready = False
            raise

    async def _move(self) -> int:
        t = self._table
        async with self._outbox.begin() as outbox:
            # One relay per stream and outbox at a time: two replicas taking overlapping
            # batches would interleave them on the bus.
            mine = await outbox.scalar(
                select(func.pg_try_advisory_xact_lock(_OUTBOX_LOCK, self._lock_key))
            )
            if not mine:
                return 0
            rows = (
                (
                    await outbox.execute(
                        select(
                            t.c.id, t.c.event_id, t.c.type, t.c.key, t.c.payload, t.c.occurred_at
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
            async with self._bus.begin() as bus:
                await bus.execute(select(func.pg_advisory_xact_lock(_BUS_LOCK, self._lock_key)))
                await bus.execute(
                    pg_insert(BUS_EVENT).on_conflict_do_nothing(
                        index_elements=[BUS_EVENT.c.event_id]
                    ),
                    [
                        {
                            "event_id": row["event_id"],
                            "stream": self.stream,
                            "type": row["type"],
                            "key": row["key"],
                            "payload": row["payload"],
                            "occurred_at": row["occurred_at"],
                        }
                        for row in rows
                    ],
                )
                await bus.execute(select(func.pg_notify(BUS_CHANNEL, self.stream)))
            # Should this fail, the rows go again next time and the bus ignores them.
            ids = [row["id"] for row in rows]
            await outbox.execute(
                update(t)
                .where(t.c.id == any_(literal(ids, ARRAY(BigInteger))))
                .values(relayed_at=func.now())
            )
        return len(rows)

    async def _step(self, idle_seconds: float) -> float:
        return 0.0 if await self.run_once() else idle_seconds


# --------------------------------------------------------------------------------------------
# Consumer side


@dataclass(frozen=True)
class Stall:
    """An event a consumer has failed to apply; its stream waits for it and is retried."""

    event: Event
    attempts: int
    error: str


class _Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    BEHIND = "behind"


@dataclass
class _Retry:
    stall: Stall
    due: float


class Consumer(_Worker):
    """Applies a set of streams' events to this service's database, each exactly once.

    The handler gets a session inside the event's transaction. Its effect is exactly-once only
    if it writes through that session alone (no HTTP calls, no other database) and neither
    commits nor rolls back. An exception rolls the event back and holds its stream at that
    event, retried with backoff and logged at every attempt (see :attr:`stalled`); fixing the
    handler or the data is the only way past it. Other streams go on.

    Several instances with the same ``name`` (replicas) may run at once; each event still
    takes effect once. Different names are independent readers of the same streams.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | AsyncEngine,
        bus_engine: AsyncEngine,
        *,
        name: str,
        streams: Sequence[str],
        handler: Handler,
        inbox: Table,
        positions: Table,
        batch: int = 500,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        if not streams or len(set(streams)) != len(streams):
            raise ValueError("streams must be given, each once")
        if batch < 1:
            raise ValueError("batch must be at least 1")
        super().__init__(
            bus_engine, BUS_CHANNEL, frozenset(streams), max_backoff_seconds=max_backoff_seconds
        )
        self._sessions = (
            create_sessionmaker(sessions) if isinstance(sessions, AsyncEngine) else sessions
        )
        self._bus = bus_engine
        self.name = name
        self.streams = tuple(streams)
        self._handler = handler
        self._inbox = inbox
        self._positions = positions
        self._batch = batch
        self._retries: dict[str, _Retry] = {}
        self._bus_ready = False

    @property
    def label(self) -> str:
        return f"consumer {self.name!r}"

    @property
    def stalled(self) -> dict[str, Stall]:
        """Streams held up by an event that failed, by stream: for health checks and alerts."""
        return {stream: retry.stall for stream, retry in self._retries.items()}

    async def run_once(self) -> int:
        """One round over every stream, stalled or not; how many events it got past.

        That counts events applied and events found in the inbox, applied before.
        """
        return await self._round(self.streams)

    async def _step(self, idle_seconds: float) -> float:
        loop = asyncio.get_running_loop()
        due = [
            s for s in self.streams if s not in self._retries or self._retries[s].due <= loop.time()
        ]
        if due and await self._round(due):
            return 0.0
        now = loop.time()
        # A retry already due waits for the next round like any stream, or it would spin.
        upcoming = [retry.due - now for retry in self._retries.values() if retry.due > now]
        return min([idle_seconds, *upcoming])

    async def _round(self, streams: Sequence[str]) -> int:
        if not self._bus_ready:
            await ensure_bus(self._bus)
            self._bus_ready = True
        read = await self._read_positions(streams)
        for stream in streams:
            retry = self._retries.get(stream)
            if retry is not None and read[stream] >= retry.stall.event.position:
                del self._retries[stream]  # another instance of this consumer applied it
        pending: dict[str, list[Event]] = {}
        try:
            async with self._bus.connect() as bus:
                for stream in streams:
                    result = await bus.execute(
                        select(BUS_EVENT)
                        .where(BUS_EVENT.c.stream == stream, BUS_EVENT.c.position > read[stream])
                        .order_by(BUS_EVENT.c.position)
                        .limit(self._batch)
                    )
                    pending[stream] = [_event(row) for row in result.mappings()]
        except BaseException:
            # The bus may have been rebuilt without its table; check again next time.
            self._bus_ready = False
            raise
        done = 0
        for stream, events in pending.items():
            done += await self._drain(stream, events)
        return done

    async def _read_positions(self, streams: Sequence[str]) -> dict[str, int]:
        p = self._positions
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                select(p.c.stream, p.c.position).where(
                    p.c.consumer == self.name, p.c.stream.in_(streams)
                )
            )
            read: dict[str, int] = {row.stream: row.position for row in result}
            missing = [s for s in streams if s not in read]
            if missing:
                # Every later advance is a conditional UPDATE, so the row must exist first.
                await session.execute(
                    pg_insert(p)
                    .values([{"consumer": self.name, "stream": s, "position": 0} for s in missing])
                    .on_conflict_do_nothing()
                )
                read |= dict.fromkeys(missing, 0)
        return read

    async def _drain(self, stream: str, events: list[Event]) -> int:
        done = 0
        for event in events:
            try:
                outcome = await self._apply(event)
            except Exception as error:
                # The handler, or the commit of what it wrote (a deferred constraint): either
                # way the event, not the bus, is at fault, and the other streams go on.
                stall, delay = self._stall(stream, event, error)
                # Never skipped: the stream stops here until the event applies, and says so
                # at every attempt.
                logger.exception(
                    "%s: %s event %s (stream %r, position %d, key %r) failed, attempt %d; "
                    "the stream waits for it, next try in %.1f s",
                    self.label,
                    event.type,
                    event.event_id,
                    stream,
                    event.position,
                    event.key,
                    stall.attempts,
                    delay,
                )
                return done
            if outcome is _Outcome.BEHIND:
                # Another instance of this consumer is ahead; the next round reads from there.
                return done
            done += 1
            self._retries.pop(stream, None)
        return done

    async def _apply(self, event: Event) -> _Outcome:
        p, inbox = self._positions, self._inbox
        async with self._sessions() as session, session.begin():
            # Claims the event and locks the position row: a concurrent instance waits here,
            # then finds the position already past the event.
            claimed = await session.execute(
                update(p)
                .where(
                    p.c.consumer == self.name,
                    p.c.stream == event.stream,
                    p.c.position < event.position,
                )
                .values(position=event.position, updated_at=func.now())
                .returning(p.c.position)
            )
            if claimed.first() is None:
                return _Outcome.BEHIND
            # The position guards delivery from this bus; the inbox guards replays with new
            # positions (a reset position, a rebuilt or different bus).
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
            await self._handler(session, event)
        return _Outcome.APPLIED

    def _stall(self, stream: str, event: Event, error: Exception) -> tuple[Stall, float]:
        previous = self._retries.get(stream)
        attempts = previous.stall.attempts + 1 if previous and previous.stall.event == event else 1
        delay = _backoff(attempts, self._max_backoff)
        stall = Stall(event=event, attempts=attempts, error=repr(error))
        self._retries[stream] = _Retry(stall, due=asyncio.get_running_loop().time() + delay)
        return stall, delay


def _event(row: RowMapping) -> Event:
    return Event(
        event_id=row["event_id"],
        stream=row["stream"],
        type=row["type"],
        key=row["key"],
        payload=row["payload"],
        occurred_at=row["occurred_at"],
        position=row["position"],
    )
