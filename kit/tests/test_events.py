"""The outbox, the relay and consumers, against a real PostgreSQL and a real NATS JetStream.

The producer and consumer databases live on the worker's own PostgreSQL and are emptied before
each test; the broker is the worker's own, and each test uses streams of its own names, so
tests never see each other's events.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.broker import EmbeddedNats
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.events import (
    Bus,
    Consumer,
    Event,
    Handler,
    MalformedEvent,
    Relay,
    dead_letter_table,
    inbox_table,
    outbox_table,
    publish,
    running,
)
from pcse_kit.testing import server_directory
from prometheus_client import REGISTRY
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

    from nats.js.client import JetStreamContext
    from pcse_kit.postgres import EmbeddedPostgres
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

PRODUCER = MetaData()
OUTBOX = outbox_table(PRODUCER)
THING = Table("thing", PRODUCER, Column("key", Text, primary_key=True))

CONSUMER = MetaData()
INBOX = inbox_table(CONSUMER)
DEAD_LETTERS = dead_letter_table(CONSUMER)
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
    bus: Bus
    producer_sessions: async_sessionmaker[AsyncSession]
    consumer_sessions: async_sessionmaker[AsyncSession]
    alpha: str
    beta: str

    def relay(self, stream: str | None = None, *, bus: Bus | None = None, **options: Any) -> Relay:
        return Relay(self.producer, bus or self.bus, OUTBOX, stream=stream or self.alpha, **options)

    def consume(
        self,
        *streams: str,
        handler: Handler = record,
        bus: Bus | None = None,
        **options: Any,
    ) -> Consumer:
        return Consumer(
            self.consumer_sessions,
            bus or self.bus,
            name=NAME,
            streams=list(streams or [self.alpha]),
            handler=handler,
            inbox=INBOX,
            dead_letters=DEAD_LETTERS,
            **{"max_backoff_seconds": 0.2, **options},
        )

    async def change(self, key: str, stream: str | None = None) -> uuid.UUID:
        """A change and its event, committed together."""
        async with self.producer_sessions() as session, session.begin():
            await session.execute(insert(THING).values(key=key))
            return await publish(
                session,
                OUTBOX,
                stream=stream or self.alpha,
                type="thing.added",
                key=key,
                payload={"key": key},
            )

    async def on_stream(self, stream: str | None = None) -> list[Any]:
        """Every message the stream holds, in order."""
        js = await self.bus.jetstream()
        name = stream or self.alpha
        info = await js.stream_info(name)
        return [
            await js.get_msg(name, seq)
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
            if info.state.messages
        ]

    async def applied(self) -> list[Any]:
        async with self.consumer.connect() as connection:
            result = await connection.execute(select(APPLIED).order_by(APPLIED.c.id))
            return list(result.mappings())

    async def dead_letters(self) -> list[Any]:
        async with self.consumer.connect() as connection:
            result = await connection.execute(select(DEAD_LETTERS).order_by(DEAD_LETTERS.c.id))
            return list(result.mappings())

    async def inbox(self) -> int:
        async with self.consumer.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(INBOX)) or 0)


def _engine(postgres: EmbeddedPostgres, database: str) -> AsyncEngine:
    return create_engine(postgres.dsn(database), application_name="test-events", pool_size=4)


@pytest.fixture(scope="module")
async def databases(postgres: EmbeddedPostgres) -> str:
    """Created once for the module; each test empties them (creating two a test is slow)."""
    prefix = f"events_{uuid.uuid4().hex[:12]}"
    for role, create in (("producer", PRODUCER.create_all), ("consumer", CONSUMER.create_all)):
        await asyncio.to_thread(postgres.create_database, f"{prefix}_{role}")
        engine = _engine(postgres, f"{prefix}_{role}")
        try:
            async with engine.begin() as connection:
                await connection.run_sync(create)
        finally:
            await engine.dispose()
    return prefix


@pytest.fixture
async def world(
    postgres: EmbeddedPostgres, broker: EmbeddedNats, databases: str
) -> AsyncIterator[World]:
    producer = _engine(postgres, f"{databases}_producer")
    consumer = _engine(postgres, f"{databases}_consumer")
    for engine, metadata in ((producer, PRODUCER), (consumer, CONSUMER)):
        tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    bus = Bus(broker.url, name="test-events")
    tag = uuid.uuid4().hex[:10]
    try:
        yield World(
            producer,
            consumer,
            bus,
            create_sessionmaker(producer),
            create_sessionmaker(consumer),
            alpha=f"alpha_{tag}",
            beta=f"beta_{tag}",
        )
    finally:
        await bus.close()
        for engine in (producer, consumer):
            await engine.dispose()


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 5.0) -> float:
    """Seconds until ``check`` holds; fails after ``within`` seconds."""
    started = time.monotonic()
    while not await _holds(check()):
        elapsed = time.monotonic() - started
        assert elapsed < within, f"not within {within} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _holds(outcome: Awaitable[bool] | bool) -> bool:
    return await outcome if inspect.isawaitable(outcome) else outcome


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_event_exists_only_if_its_change_commits(world: World) -> None:
    async def fail_after_publishing() -> None:
        async with world.producer_sessions() as session, session.begin():
            await session.execute(insert(THING).values(key="lost"))
            await publish(
                session, OUTBOX, stream=world.alpha, type="thing.added", key="lost", payload={}
            )
            raise RuntimeError("the change fails after publishing")

    kept = await world.change("kept")
    with pytest.raises(RuntimeError, match="fails after publishing"):
        await fail_after_publishing()

    async with world.producer.connect() as connection:
        rows = (await connection.execute(select(OUTBOX))).mappings().all()
    assert [(r["event_id"], r["key"], r["type"], r["stream"]) for r in rows] == [
        (kept, "kept", "thing.added", world.alpha)
    ]
    assert rows[0]["payload"] == {"key": "kept"}
    assert rows[0]["occurred_at"] is not None
    assert rows[0]["relayed_at"] is None
    assert rows[0]["trace_context"] is None  # nothing was being traced


async def test_an_event_type_must_make_a_subject(world: World) -> None:
    async with world.producer_sessions() as session, session.begin():
        with pytest.raises(ValueError, match="event type"):
            await publish(
                session, OUTBOX, stream=world.alpha, type="thing added", key="k", payload={}
            )
        with pytest.raises(ValueError, match="stream"):
            await publish(session, OUTBOX, stream="a.b", type="thing.added", key="k", payload={})


async def test_relay_moves_events_in_order_with_their_ids_as_message_ids(world: World) -> None:
    published = [await world.change(f"k{n}") for n in range(5)]
    relay = world.relay(batch=2)
    before = sample("pcse_events_relayed_total", stream=world.alpha)

    assert [await relay.run_once() for _ in range(4)] == [2, 2, 1, 0]

    messages = await world.on_stream()
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [str(e) for e in published]
    assert {m.subject for m in messages} == {f"{world.alpha}.thing.added"}
    bodies = [json.loads(m.data) for m in messages]
    assert [b["key"] for b in bodies] == [f"k{n}" for n in range(5)]
    assert [b["eventId"] for b in bodies] == [str(e) for e in published]
    assert bodies[0]["payload"] == {"key": "k0"}
    async with world.producer.connect() as connection:
        unrelayed = await connection.scalar(
            select(func.count()).where(OUTBOX.c.relayed_at.is_(None))
        )
    assert unrelayed == 0
    assert await relay.backlog() == 0
    assert sample("pcse_events_relayed_total", stream=world.alpha) - before == 5


async def test_relaying_again_after_a_crash_does_not_duplicate(world: World) -> None:
    for n in range(3):
        await world.change(f"k{n}")
    relay = world.relay()
    assert await relay.run_once() == 3
    # A crash after the broker stored the batch and before the outbox commit leaves the rows
    # unrelayed: they go again, and JetStream drops them by message id.
    async with world.producer.begin() as connection:
        await connection.execute(update(OUTBOX).values(relayed_at=None))
    await world.change("k3")
    assert await relay.backlog() == 4

    assert await relay.run_once() == 4

    messages = await world.on_stream()
    assert [json.loads(m.data)["key"] for m in messages] == ["k0", "k1", "k2", "k3"]


class _LosesOneMessage:
    """A JetStream context that drops the nth message it is asked to send, once, as a
    reconnect can: the message never reaches the broker, and its acknowledgement never comes."""

    def __init__(self, js: JetStreamContext, lose: int) -> None:
        self._js = js
        self._count = 0
        self._lose = lose
        self.lost: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)

    async def publish_async(self, subject: str, payload: bytes, **options: Any) -> Any:
        self._count += 1
        if self._count == self._lose:
            self.lost = options["headers"]["Nats-Msg-Id"]
            return asyncio.get_running_loop().create_future()
        return await self._js.publish_async(subject, payload, **options)


class _LossyBus(Bus):
    def __init__(self, url: str, lose: int) -> None:
        super().__init__(url, name="test-lossy")
        self._lose = lose
        self.wrapper: _LosesOneMessage | None = None

    async def jetstream(self) -> Any:
        js = await super().jetstream()
        if self.wrapper is None:
            self.wrapper = _LosesOneMessage(js, self._lose)
        return self.wrapper


async def test_a_message_lost_in_flight_is_not_overtaken_by_the_ones_after_it(
    world: World, broker: EmbeddedNats
) -> None:
    published = [await world.change(f"k{n}") for n in range(6)]
    lossy = _LossyBus(broker.url, lose=3)
    try:
        relay = world.relay(bus=lossy, ack_timeout=1.0)

        # k0 and k1 are stored; k2 is lost; k3 to k5 expect the stream to end with the event
        # before them, so the broker refuses them rather than store them ahead of k2.
        assert await relay.run_once() == 2
        assert lossy.wrapper is not None
        assert lossy.wrapper.lost == str(published[2])
        assert [json.loads(m.data)["key"] for m in await world.on_stream()] == ["k0", "k1"]

        assert await relay.run_once() == 4
    finally:
        await lossy.close()

    messages = await world.on_stream()
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [str(e) for e in published]


async def test_replicas_of_a_relay_neither_duplicate_nor_reorder(world: World) -> None:
    for n in range(40):
        await world.change(f"k{n:02}")
    replicas = [world.relay(batch=7) for _ in range(3)]

    while sum(await asyncio.gather(*(r.run_once() for r in replicas))):
        pass

    messages = await world.on_stream()
    assert [json.loads(m.data)["key"] for m in messages] == [f"k{n:02}" for n in range(40)]


async def test_consumer_applies_each_event_once_and_in_order_when_run_concurrently(
    world: World,
) -> None:
    published = [await world.change(f"k{n}") for n in range(30)]
    await world.relay().run_once()
    first, second = world.consume(), world.consume()

    done = await asyncio.gather(first.run_once(), second.run_once())

    assert sum(done) == 30
    applied = await world.applied()
    assert [a["event_id"] for a in applied] == published
    assert [a["position"] for a in applied] == list(range(1, 31))
    assert await first.run_once() == 0
    assert first.lag == {world.alpha: 0}


async def test_redelivered_events_are_not_applied_again(world: World) -> None:
    for n in range(4):
        await world.change(f"k{n}")
    await world.relay().run_once()
    consumer = world.consume()
    assert await consumer.run_once() == 4
    # A replay from the start: the durable consumer deleted and made again reads the whole
    # stream, as it would from a stream rebuilt from the outboxes.
    js = await world.bus.jetstream()
    await js.delete_consumer(world.alpha, NAME)
    before = sample(
        "pcse_events_consumed_total", consumer=NAME, stream=world.alpha, outcome="duplicate"
    )

    assert await world.consume().run_once() == 4

    assert len(await world.applied()) == 4
    after = sample(
        "pcse_events_consumed_total", consumer=NAME, stream=world.alpha, outcome="duplicate"
    )
    assert after - before == 4


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
            raise RuntimeError(f"cannot apply {event.key}")

    consumer = world.consume(handler=flaky)
    with caplog.at_level(logging.ERROR, logger="pcse.events"):
        assert await consumer.run_once() == 2
        stall = consumer.stalled[world.alpha]
        assert (stall.position, stall.attempts) == (3, 1)
        assert stall.event is not None
        assert stall.event.event_id == published[2]
        assert "cannot apply k2" in stall.error
        assert sample("pcse_consumer_stalled", consumer=NAME, stream=world.alpha) == 1
        # The broker holds every later event until k2 is acknowledged, and redelivers k2
        # after the delay the failure asked for.
        assert await consumer.run_once(wait=2.0) == 0
        assert consumer.stalled[world.alpha].attempts == 2

    applied = await world.applied()
    assert [a["key"] for a in applied] == ["k0", "k1"]
    assert sum("k2" in r.getMessage() for r in caplog.records) == 2
    assert await world.inbox() == 2

    assert await consumer.run_once(wait=2.0) == 3

    assert [a["event_id"] for a in await world.applied()] == published
    assert consumer.stalled == {}
    assert sample("pcse_consumer_stalled", consumer=NAME, stream=world.alpha) == 0


async def test_a_malformed_event_is_dead_lettered_and_the_stream_goes_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The one policy for an event a consumer can never apply: set it aside with the reason,
    say so loudly (an error in the log and a counter to alert on), and go on."""
    published = [await world.change(f"k{n}") for n in range(3)]
    await world.relay().run_once()
    # Not an event at all, on the stream's subjects: what a broken producer could send.
    js = await world.bus.jetstream()
    await js.publish(f"{world.alpha}.thing.added", b"{not json", headers={"Nats-Msg-Id": "junk"})
    after = await world.change("k3")
    await world.relay().run_once()

    async def refuses_k1(session: AsyncSession, event: Event) -> None:
        await record(session, event)  # written, and must not survive the dead-lettering
        if event.key == "k1":
            raise MalformedEvent("payload has no odsCode")

    before = sample("pcse_events_dead_lettered_total", consumer=NAME, stream=world.alpha)
    with caplog.at_level(logging.ERROR, logger="pcse.events"):
        assert await world.consume(handler=refuses_k1).run_once() == 5

    assert [a["key"] for a in await world.applied()] == ["k0", "k2", "k3"]
    letters = await world.dead_letters()
    assert [(d["position"], d["event_id"], d["type"]) for d in letters] == [
        (2, published[1], "thing.added"),
        (4, None, None),
    ]
    assert letters[0]["error"] == "payload has no odsCode"
    assert json.loads(letters[0]["message"])["key"] == "k1"
    assert letters[1]["message"] == "{not json"
    assert letters[1]["error"].startswith("not JSON")
    assert {d["consumer"] for d in letters} == {NAME}
    assert (
        sample("pcse_events_dead_lettered_total", consumer=NAME, stream=world.alpha) - before == 2
    )
    alerts = [r for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert len(alerts) == 2
    assert {r.levelno for r in alerts} == {logging.ERROR}
    # The dead-lettered event is in the inbox too: a redelivery is not dead-lettered twice.
    assert await world.inbox() == 4
    assert (await world.applied())[-1]["event_id"] == after


async def test_streams_keep_their_own_order_and_do_not_block_each_other(world: World) -> None:
    expected: dict[str, list[str]] = {world.alpha: [], world.beta: []}
    for n in range(12):
        stream = world.alpha if n % 3 else world.beta
        await world.change(f"{stream}{n}", stream=stream)
        expected[stream].append(f"{stream}{n}")
    relays = [world.relay(world.alpha, batch=3), world.relay(world.beta, batch=3)]
    while sum(await asyncio.gather(*(r.run_once() for r in relays))):
        pass
    failed: list[str] = []

    async def beta_fails_once(session: AsyncSession, event: Event) -> None:
        if event.key == expected[world.beta][1] and not failed:
            failed.append(event.key)
            raise RuntimeError("not yet")
        await record(session, event)

    consumer = world.consume(world.alpha, world.beta, handler=beta_fails_once)
    await consumer.run_once()

    applied = await world.applied()
    by_stream = {s: [a["key"] for a in applied if a["stream"] == s] for s in expected}
    assert by_stream == {world.alpha: expected[world.alpha], world.beta: expected[world.beta][:1]}

    await consumer.run_once(wait=2.0)

    applied = await world.applied()
    for stream, keys in expected.items():
        mine = [a for a in applied if a["stream"] == stream]
        assert [a["key"] for a in mine] == keys
        assert [a["position"] for a in mine] == sorted(a["position"] for a in mine)


async def test_running_workers_react_to_a_new_event_and_stop_promptly(world: World) -> None:
    relay, consumer = world.relay(), world.consume()
    stop = asyncio.Event()
    # A long idle wait: only the notification and the broker's long poll make it quick.
    tasks = [
        asyncio.create_task(worker.run_forever(stop, idle_seconds=30))
        for worker in (relay, consumer)
    ]
    try:
        await eventually(lambda: relay.listening)
        await asyncio.sleep(0.3)  # the consumer's first poll is out
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


async def test_running_workers_wait_for_a_broker_that_is_not_there_yet(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with server_directory() as directory:
        late = EmbeddedNats(directory / "late")
        from pcse_kit.broker import _free_port  # noqa: PLC0415 - a port nothing listens on

        port = _free_port()
        bus = Bus(f"nats://127.0.0.1:{port}", name="test-late")
        relay, consumer = world.relay(bus=bus), world.consume(bus=bus)
        await world.change("k0")
        try:
            with caplog.at_level(logging.ERROR, logger="pcse.events"):
                async with running(relay, consumer, idle_seconds=0.1):

                    async def both_failed() -> bool:
                        return {r.getMessage().split(" failed")[0] for r in caplog.records} >= {
                            relay.label,
                            f"{consumer.label} on {world.alpha!r}",
                        }

                    await eventually(both_failed, within=20.0)
                    late = EmbeddedNats(directory / "late", port=port)
                    late.start()  # from this thread, which outlives it

                    async def arrived() -> bool:
                        return len(await world.applied()) == 1

                    await eventually(arrived, within=15.0)
        finally:
            await bus.close()
            late.stop()


async def test_the_broker_restarted_under_load_loses_no_event_and_applies_each_once_in_order(
    world: World,
) -> None:
    with server_directory() as directory:
        own = EmbeddedNats(directory / "restarted")
        own.start()
        bus = Bus(own.url, name="test-restart")
        relay, consumer = (
            world.relay(bus=bus, batch=20),
            world.consume(bus=bus, ack_wait_seconds=2.0),
        )
        published: list[uuid.UUID] = []

        async def produce(count: int) -> None:
            for n in range(count):
                published.append(await world.change(f"k{len(published):04}"))
                if n % 5 == 0:
                    await asyncio.sleep(0.01)

        try:
            async with running(relay, consumer, idle_seconds=0.1):
                await produce(100)
                own.stop()
                await produce(50)  # committed while the broker is down: they wait
                own.start()
                await produce(100)

                async def all_applied() -> bool:
                    return len(await world.applied()) >= len(published)

                await eventually(all_applied, within=60.0)
                await asyncio.sleep(0.5)  # anything extra would show up now
        finally:
            await bus.close()
            own.stop()

    applied = await world.applied()
    assert [a["event_id"] for a in applied] == published
    assert [a["position"] for a in applied] == sorted(a["position"] for a in applied)
    assert await world.inbox() == len(published)


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
    await asyncio.wait_for(entered.wait(), timeout=5.0)
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)

    assert await world.applied() == []
    assert await world.inbox() == 0
    # Handed back to the broker on the way out, so the next consumer gets it at once.
    assert await world.consume().run_once(wait=2.0) == 1
    assert [a["key"] for a in await world.applied()] == ["k0"]


async def test_a_bus_reports_whether_the_broker_answers(broker: EmbeddedNats) -> None:
    bus = Bus(broker.url, name="test-ping")
    with pytest.raises(ConnectionError):
        await bus.ping(1.0)
    try:
        await bus.jetstream()
        await bus.ping(1.0)
        assert bus.connected
    finally:
        await bus.close()
    assert not bus.connected


async def test_a_consumer_waits_quietly_for_its_stream_to_be_declared(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    consumer = world.consume()
    with caplog.at_level(logging.INFO, logger="pcse.events"):
        async with running(consumer, idle_seconds=0.1):

            async def waiting() -> bool:
                return any("does not exist yet" in r.getMessage() for r in caplog.records)

            await eventually(waiting)
            await world.change("k0")
            await world.relay().run_once()  # the owner's relay declares the stream

            async def arrived() -> bool:
                return len(await world.applied()) == 1

            await eventually(arrived, within=15.0)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert sum("does not exist yet" in r.getMessage() for r in caplog.records) == 1
