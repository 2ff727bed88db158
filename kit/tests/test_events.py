"""The outbox, the relay and consumers, against a real PostgreSQL.

The producer, consumer and bus databases live on the worker's own server and are emptied
before each test, so tests never see each other's events.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.events import (
    BUS_EVENT,
    Consumer,
    Event,
    Handler,
    Relay,
    bus_metadata,
    consumer_position_table,
    inbox_table,
    outbox_table,
    publish,
    running,
)
from sqlalchemy import (
    BigInteger,
    Column,
    Identity,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    insert,
    select,
    text,
    update,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from pcse_kit.postgres import EmbeddedPostgres
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

PRODUCER = MetaData()
OUTBOX = outbox_table(PRODUCER)
THING = Table("thing", PRODUCER, Column("key", Text, primary_key=True))

CONSUMER = MetaData()
INBOX = inbox_table(CONSUMER)
POSITIONS = consumer_position_table(CONSUMER)
APPLIED = Table(
    "applied",
    CONSUMER,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("stream", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
)

NAME = "copy"


async def record(session: AsyncSession, event: Event) -> None:
    await session.execute(
        insert(APPLIED).values(
            event_id=event.event_id, stream=event.stream, key=event.key, position=event.position
        )
    )


@dataclass
class World:
    producer: AsyncEngine
    consumer: AsyncEngine
    bus: AsyncEngine
    producer_sessions: async_sessionmaker[AsyncSession]
    consumer_sessions: async_sessionmaker[AsyncSession]
    prefix: str

    def relay(self, stream: str = "alpha", **options: Any) -> Relay:
        return Relay(self.producer, self.bus, OUTBOX, stream=stream, **options)

    def consume(
        self, *streams: str, handler: Handler = record, bus: AsyncEngine | None = None
    ) -> Consumer:
        return Consumer(
            self.consumer_sessions,
            bus or self.bus,
            name=NAME,
            streams=list(streams or ["alpha"]),
            handler=handler,
            inbox=INBOX,
            positions=POSITIONS,
        )

    async def change(self, key: str, stream: str = "alpha") -> uuid.UUID:
        """A change and its event, committed together."""
        async with self.producer_sessions() as session, session.begin():
            await session.execute(insert(THING).values(key=key))
            return await publish(
                session, OUTBOX, stream=stream, type="thing.added", key=key, payload={"key": key}
            )

    async def bus_events(self) -> list[Any]:
        async with self.bus.connect() as connection:
            result = await connection.execute(select(BUS_EVENT).order_by(BUS_EVENT.c.position))
            return list(result.mappings())

    async def applied(self) -> list[Any]:
        async with self.consumer.connect() as connection:
            result = await connection.execute(select(APPLIED).order_by(APPLIED.c.id))
            return list(result.mappings())

    async def position(self, stream: str = "alpha") -> int | None:
        async with self.consumer.connect() as connection:
            return await connection.scalar(
                select(POSITIONS.c.position).where(
                    POSITIONS.c.consumer == NAME, POSITIONS.c.stream == stream
                )
            )


def _engine(postgres: EmbeddedPostgres, database: str) -> AsyncEngine:
    return create_engine(postgres.dsn(database), application_name="test-events", pool_size=4)


@pytest.fixture(scope="module")
async def databases(postgres: EmbeddedPostgres) -> str:
    """Created once for the module; each test empties them (creating three a test is slow)."""
    prefix = f"events_{uuid.uuid4().hex[:12]}"
    for role, create in (
        ("producer", PRODUCER.create_all),
        ("consumer", CONSUMER.create_all),
        ("bus", bus_metadata().create_all),
    ):
        await asyncio.to_thread(postgres.create_database, f"{prefix}_{role}")
        engine = _engine(postgres, f"{prefix}_{role}")
        try:
            async with engine.begin() as connection:
                await connection.run_sync(create)
        finally:
            await engine.dispose()
    return prefix


@pytest.fixture
async def world(postgres: EmbeddedPostgres, databases: str) -> AsyncIterator[World]:
    prefix = f"{databases}_{uuid.uuid4().hex[:6]}"
    producer = _engine(postgres, f"{databases}_producer")
    consumer = _engine(postgres, f"{databases}_consumer")
    bus = _engine(postgres, f"{databases}_bus")
    for engine, metadata in ((producer, PRODUCER), (consumer, CONSUMER), (bus, bus_metadata())):
        tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    try:
        yield World(
            producer,
            consumer,
            bus,
            create_sessionmaker(producer),
            create_sessionmaker(consumer),
            prefix,
        )
    finally:
        for engine in (producer, consumer, bus):
            await engine.dispose()


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 2.0) -> float:
    """Seconds until ``check`` holds; fails after ``within`` seconds."""
    started = time.monotonic()
    while not await _holds(check()):
        elapsed = time.monotonic() - started
        assert elapsed < within, f"not within {within} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _holds(outcome: Awaitable[bool] | bool) -> bool:
    return await outcome if inspect.isawaitable(outcome) else outcome


async def test_an_event_exists_only_if_its_change_commits(world: World) -> None:
    async def fail_after_publishing() -> None:
        async with world.producer_sessions() as session, session.begin():
            await session.execute(insert(THING).values(key="lost"))
            await publish(
                session, OUTBOX, stream="alpha", type="thing.added", key="lost", payload={}
            )
            raise RuntimeError("the change fails after publishing")

    kept = await world.change("kept")
    with pytest.raises(RuntimeError, match="fails after publishing"):
        await fail_after_publishing()

    async with world.producer.connect() as connection:
        rows = (await connection.execute(select(OUTBOX))).mappings().all()
    assert [(r["event_id"], r["key"], r["type"], r["stream"]) for r in rows] == [
        (kept, "kept", "thing.added", "alpha")
    ]
    assert rows[0]["payload"] == {"key": "kept"}
    assert rows[0]["occurred_at"] is not None
    assert rows[0]["relayed_at"] is None


async def test_relay_moves_events_in_order_and_marks_them(world: World) -> None:
    published = [await world.change(f"k{n}") for n in range(5)]
    relay = world.relay(batch=2)

    assert [await relay.run_once() for _ in range(4)] == [2, 2, 1, 0]

    on_bus = await world.bus_events()
    assert [e["event_id"] for e in on_bus] == published
    assert [e["key"] for e in on_bus] == [f"k{n}" for n in range(5)]
    assert {e["stream"] for e in on_bus} == {"alpha"}
    async with world.producer.connect() as connection:
        unrelayed = await connection.scalar(
            select(func.count()).where(OUTBOX.c.relayed_at.is_(None))
        )
    assert unrelayed == 0


async def test_relaying_again_after_a_crash_does_not_duplicate(world: World) -> None:
    for n in range(3):
        await world.change(f"k{n}")
    relay = world.relay()
    assert await relay.run_once() == 3
    before = await world.bus_events()
    # A crash after the bus commit and before the outbox commit leaves the rows unrelayed.
    async with world.producer.begin() as connection:
        await connection.execute(update(OUTBOX).values(relayed_at=None))
    await world.change("k3")

    assert await relay.run_once() == 4
    after = await world.bus_events()
    assert after[:3] == before
    assert [e["key"] for e in after] == ["k0", "k1", "k2", "k3"]


async def test_replicas_of_a_relay_neither_duplicate_nor_reorder(world: World) -> None:
    for n in range(40):
        await world.change(f"k{n:02}")
    replicas = [world.relay(batch=7) for _ in range(3)]

    while sum(await asyncio.gather(*(r.run_once() for r in replicas))):
        pass

    assert [e["key"] for e in await world.bus_events()] == [f"k{n:02}" for n in range(40)]


async def test_consumer_applies_each_event_once_when_run_concurrently(world: World) -> None:
    published = [await world.change(f"k{n}") for n in range(30)]
    await world.relay().run_once()
    first, second = world.consume(), world.consume()

    done = await asyncio.gather(first.run_once(), second.run_once())

    assert sum(done) == 30
    applied = await world.applied()
    assert [a["event_id"] for a in applied] == published
    assert [a["position"] for a in applied] == sorted(a["position"] for a in applied)
    assert await world.position() == applied[-1]["position"]
    assert await first.run_once() == 0


async def test_redelivered_events_are_not_applied_again(world: World) -> None:
    for n in range(4):
        await world.change(f"k{n}")
    await world.relay().run_once()
    consumer = world.consume()
    assert await consumer.run_once() == 4
    last = await world.position()
    # A replay from the start: a reset position, or a rebuilt bus.
    async with world.consumer.begin() as connection:
        await connection.execute(update(POSITIONS).values(position=0))

    assert await consumer.run_once() == 4

    assert len(await world.applied()) == 4
    assert await world.position() == last


async def test_a_failing_event_is_retried_and_never_skipped(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    published = [await world.change(f"k{n}") for n in range(5)]
    await world.relay().run_once()
    failures = {"k2": 2}

    async def flaky(session: AsyncSession, event: Event) -> None:
        await record(session, event)  # written, and must be rolled back with the failure
        if failures.get(event.key, 0) > 0:
            failures[event.key] -= 1
            raise ValueError(f"cannot apply {event.key}")

    consumer = world.consume(handler=flaky)
    with caplog.at_level(logging.ERROR, logger="pcse.events"):
        assert await consumer.run_once() == 2
        assert await consumer.run_once() == 0

    applied = await world.applied()
    assert [a["key"] for a in applied] == ["k0", "k1"]
    assert await world.position() == applied[-1]["position"]
    stall = consumer.stalled["alpha"]
    assert (stall.event.event_id, stall.attempts) == (published[2], 2)
    assert "cannot apply k2" in stall.error
    assert sum("k2" in r.getMessage() for r in caplog.records) == 2
    async with world.consumer.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(INBOX)) == 2

    assert await consumer.run_once() == 3

    assert [a["event_id"] for a in await world.applied()] == published
    assert consumer.stalled == {}


async def test_streams_keep_their_own_order_and_do_not_block_each_other(world: World) -> None:
    expected: dict[str, list[str]] = {"alpha": [], "beta": []}
    for n in range(12):
        stream = "alpha" if n % 3 else "beta"
        await world.change(f"{stream}{n}", stream=stream)
        expected[stream].append(f"{stream}{n}")
    relays = [world.relay("alpha", batch=3), world.relay("beta", batch=3)]
    while sum(await asyncio.gather(*(r.run_once() for r in relays))):
        pass

    async def beta_fails_once(session: AsyncSession, event: Event) -> None:
        if event.key == expected["beta"][1] and not failed:
            failed.append(event.key)
            raise ValueError("not yet")
        await record(session, event)

    failed: list[str] = []
    consumer = world.consume("alpha", "beta", handler=beta_fails_once)
    await consumer.run_once()

    applied = await world.applied()
    by_stream = {s: [a["key"] for a in applied if a["stream"] == s] for s in expected}
    assert by_stream == {"alpha": expected["alpha"], "beta": expected["beta"][:1]}

    await consumer.run_once()

    applied = await world.applied()
    for stream, keys in expected.items():
        mine = [a for a in applied if a["stream"] == stream]
        assert [a["key"] for a in mine] == keys
        assert [a["position"] for a in mine] == sorted(a["position"] for a in mine)


async def test_running_workers_react_to_a_new_event_and_stop_promptly(world: World) -> None:
    relay, consumer = world.relay(), world.consume()
    stop = asyncio.Event()
    # A long idle wait: only the notifications can make the event cross quickly.
    tasks = [
        asyncio.create_task(worker.run_forever(stop, idle_seconds=30))
        for worker in (relay, consumer)
    ]
    try:
        await eventually(lambda: relay.listening and consumer.listening)
        await world.change("late")

        async def arrived() -> bool:
            return len(await world.applied()) == 1

        assert await eventually(arrived) < 2.0
    finally:
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=2.0)
    assert time.monotonic() - started < 1.0
    assert not relay.listening
    assert not consumer.listening


async def test_running_workers_wait_for_a_bus_that_is_not_there_yet(
    world: World, postgres: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    late = f"{world.prefix}_late"
    bus = _engine(postgres, late)
    relay = Relay(world.producer, bus, OUTBOX, stream="alpha")
    consumer = world.consume(bus=bus)
    await world.change("k0")
    try:
        with caplog.at_level(logging.ERROR, logger="pcse.events"):
            async with running(relay, consumer, idle_seconds=0.1):

                async def both_failed() -> bool:
                    return len({r.getMessage().split(" failed")[0] for r in caplog.records}) == 2

                await eventually(both_failed)
                await asyncio.to_thread(postgres.create_database, late)

                async def arrived() -> bool:
                    return len(await world.applied()) == 1

                await eventually(arrived, within=5.0)
    finally:
        await bus.dispose()


async def test_a_consumer_listens_again_after_losing_its_connection(world: World) -> None:
    relay, consumer = world.relay(), world.consume()
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run_forever(stop, idle_seconds=30))

    async def listener() -> int | None:
        async with world.bus.connect() as connection:
            pid: int | None = await connection.scalar(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
            )
            return pid

    try:
        await eventually(lambda: consumer.listening)
        lost = await listener()
        async with world.bus.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})

        async def replaced() -> bool:
            return consumer.listening and (await listener()) not in (None, lost)

        await eventually(replaced)
        await world.change("after")
        await relay.run_once()

        async def arrived() -> bool:
            return len(await world.applied()) == 1

        await eventually(arrived)
    finally:
        stop.set()
        await task


async def test_stopping_in_the_middle_of_an_event_leaves_it_for_later(world: World) -> None:
    await world.change("k0")
    await world.relay().run_once()
    entered = asyncio.Event()

    async def stuck(session: AsyncSession, event: Event) -> None:
        await record(session, event)
        entered.set()
        await asyncio.Event().wait()

    stop = asyncio.Event()
    task = asyncio.create_task(world.consume(handler=stuck).run_forever(stop))
    await asyncio.wait_for(entered.wait(), timeout=2.0)
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)

    assert await world.applied() == []
    assert await world.position() == 0
    assert await world.consume().run_once() == 1
    assert [a["key"] for a in await world.applied()] == ["k0"]
