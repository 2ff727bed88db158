"""The relay's throughput and the consumers' lag, on the national data set.

Starts its own PostgreSQL and stack on free ports (NATS included, no demo data) and loads the
nation (``bench.national``; its load time is printed part by part). Then, with the services'
own relay and consumers running as they do in production:

- a steady flow: ``--rate`` events a second for ``--seconds``, each in a transaction of its own,
  as mutations would make them; each consumer's lag (events the broker holds that it has not
  had, sampled every 0.2 s) and the delay from commit to application;
- then a burst: one ``practice.upserted`` for every practice in the directory, committed to the
  performers outbox in one transaction, as a directory import would. The relay's throughput is
  the burst's size over the time from the commit to the broker's storing the last event (the
  broker's own timestamps); each consumer's lag is followed until it drains, or until
  ``--max-wait``.

Payments re-detects a practice's anomalies with every directory event (five years of its
lines), so its consumer is the slow one by design; records only updates its copy.

    .venv/bin/python -m bench.events [--size national] [--rate 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import nats.js.errors
from pcse_kit import dates

from bench.measure import cpu_seconds, percentile
from bench.national import SIZES, PracticeSpec, build
from bench.national.cache import add_nation_arguments, national_stack

if TYPE_CHECKING:
    from pcse_kit.events import Bus

    from stack import Stack

STREAM = "performers"
CONSUMERS = {"payments": "payments-directory", "records": "records-directory"}
SAMPLE_SECONDS = 0.2


def upserted(practice: PracticeSpec) -> tuple[uuid.UUID, str, str, str, str]:
    """An outbox row for ``practice``: the facts the directory already holds, published again."""
    payload = {
        "odsCode": practice.ods_code,
        "name": practice.name,
        "lmcCode": practice.lmc_code,
        "icbCode": practice.icb_code,
        "subIcbCode": practice.sub_icb_code,
        "status": practice.status,
        "listSize": practice.list_size,
    }
    return uuid.uuid4(), STREAM, "practice.upserted", practice.ods_code, json.dumps(payload)


INSERT = (
    "INSERT INTO outbox (event_id, stream, type, key, payload) "
    "SELECT e, s, t, k, p::jsonb FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], "
    "$5::text[]) AS r(e, s, t, k, p)"
)


async def publish(
    connection: asyncpg.Connection[Any], rows: list[tuple[uuid.UUID, str, str, str, str]]
) -> tuple[float, datetime]:
    """Commit ``rows`` to the performers outbox in one transaction, notifying the relay as
    ``pcse_kit.events.publish`` does; the commit's time, monotonic and wall-clock."""
    async with connection.transaction():
        await connection.execute(INSERT, *(list(column) for column in zip(*rows, strict=True)))
        await connection.execute("SELECT pg_notify('pcse_outbox', $1)", STREAM)
    return time.monotonic(), datetime.now(UTC)


@dataclass
class Lag:
    """Lag samples of each consumer: (seconds since the start, events behind)."""

    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    relayed_at: float | None = None

    def peak(self, consumer: str) -> int:
        return max((n for _, n in self.samples.get(consumer, [])), default=0)

    def drained_after(self, consumer: str) -> float | None:
        """Seconds until the consumer's lag last reached zero, if it did."""
        samples = self.samples.get(consumer, [])
        if not samples or samples[-1][1]:
            return None
        last_busy = max((t for t, n in samples if n), default=0.0)
        return next((t for t, n in samples if t >= last_busy and not n), None)


async def _outbox_backlog(connection: asyncpg.Connection[Any]) -> int:
    count: int = await connection.fetchval(
        "SELECT count(*) FROM outbox WHERE stream = $1 AND relayed_at IS NULL", STREAM
    )
    return count


async def follow(
    stack: Stack, started: float, until: asyncio.Event, lag: Lag, *, max_wait: float
) -> None:
    """Sample the outbox backlog and each consumer's lag until ``until`` is set and every
    consumer has drained, or ``max_wait`` seconds have passed."""
    reader: Bus = stack.bus("reader")
    js = await reader.jetstream()
    outbox = await asyncpg.connect(stack.database_urls["performers"])
    try:
        while time.monotonic() - started < max_wait:
            now = time.monotonic() - started
            if lag.relayed_at is None and await _outbox_backlog(outbox) == 0:
                lag.relayed_at = now
            behind = {}
            for consumer in CONSUMERS.values():
                info = await js.consumer_info(STREAM, consumer)
                behind[consumer] = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
                lag.samples.setdefault(consumer, []).append((now, behind[consumer]))
            if until.is_set() and lag.relayed_at is not None and not any(behind.values()):
                return
            await asyncio.sleep(SAMPLE_SECONDS)
    finally:
        await outbox.close()
        await reader.close()


async def delays(stack: Stack, events: list[uuid.UUID]) -> dict[str, list[float]]:
    """Seconds from each event's commit to its application, by consumer."""
    connection = await asyncpg.connect(stack.database_urls["performers"])
    try:
        committed = {
            row["event_id"]: row["occurred_at"]
            for row in await connection.fetch(
                "SELECT event_id, occurred_at FROM outbox WHERE event_id = ANY($1::uuid[])", events
            )
        }
    finally:
        await connection.close()
    found: dict[str, list[float]] = {}
    for service, consumer in CONSUMERS.items():
        connection = await asyncpg.connect(stack.database_urls[service])
        try:
            rows = await connection.fetch(
                "SELECT event_id, applied_at FROM inbox WHERE consumer = $1 "
                "AND event_id = ANY($2::uuid[])",
                consumer,
                events,
            )
        finally:
            await connection.close()
        found[consumer] = [
            (row["applied_at"] - committed[row["event_id"]]).total_seconds() for row in rows
        ]
    return found


def report_delays(found: dict[str, list[float]], total: int) -> None:
    for consumer, seconds in found.items():
        if not seconds:
            print(f"  {consumer:19s} applied none of {total:,}")
            continue
        print(
            f"  {consumer:19s} applied {len(seconds):,} of {total:,}; delay from commit: "
            f"p50 {statistics.median(seconds):7.2f} s, p99 {percentile(seconds, 0.99):7.2f} s, "
            f"max {max(seconds):7.2f} s"
        )


async def _stream_times(stack: Stack, first: int, last: int) -> tuple[datetime, datetime]:
    """When the broker stored stream positions ``first`` and ``last``."""
    reader = stack.bus("reader")
    try:
        js = await reader.jetstream()
        stored = [await js.get_msg(STREAM, seq) for seq in (first, last)]
    finally:
        await reader.close()
    times = [message.time for message in stored]
    assert times[0] is not None
    assert times[1] is not None
    return times[0], times[1]


async def _last_seq(stack: Stack) -> int:
    reader = stack.bus("reader")
    try:
        js = await reader.jetstream()
        try:
            return int((await js.stream_info(STREAM)).state.last_seq)
        except nats.js.errors.NotFoundError:
            return 0
    finally:
        await reader.close()


async def burst(stack: Stack, practices: list[PracticeSpec], *, max_wait: float) -> None:
    rows = [upserted(practice) for practice in practices]
    cpu = {child.name: cpu_seconds(child.process.pid) for child in stack.children}
    lag, done = Lag(), asyncio.Event()
    before = await _last_seq(stack)
    connection = await asyncpg.connect(stack.database_urls["performers"])
    try:
        started = time.monotonic()
        committed, committed_at = await publish(connection, rows)
    finally:
        await connection.close()
    done.set()
    await follow(stack, committed, done, lag, max_wait=max_wait)
    print(
        f"burst: {len(rows):,} practice.upserted committed in one transaction "
        f"({committed - started:.2f} s to commit)"
    )
    if lag.relayed_at is None:
        print(f"  relay: not done within {max_wait:.0f} s")
    else:
        first, last = await _stream_times(stack, before + 1, before + len(rows))
        whole = (last - committed_at).total_seconds()
        sending = (last - first).total_seconds()
        print(
            f"  relay: the last on the broker {whole:.2f} s after the commit "
            f"({len(rows) / whole:,.0f} events/s); first to last stored in {sending:.2f} s "
            f"({(len(rows) - 1) / max(sending, 1e-6):,.0f} events/s)"
        )
    for consumer in CONSUMERS.values():
        drained = lag.drained_after(consumer)
        samples = lag.samples.get(consumer, [(0.0, 0)])
        if drained:
            outcome = f"drained after {drained:.1f} s: {len(rows) / drained:,.1f} events/s"
        else:
            elapsed, left = samples[-1]
            outcome = (
                f"{left:,} still behind after {elapsed:.0f} s: "
                f"{(len(rows) - left) / max(elapsed, 1e-6):,.1f} events/s"
            )
        print(f"  {consumer:19s} peak lag {lag.peak(consumer):,} events; {outcome}")
    report_delays(await delays(stack, [row[0] for row in rows]), len(rows))
    spent = {n: cpu_seconds(c.process.pid) - cpu[n] for n, c in _children(stack).items()}
    print("  CPU seconds: " + ", ".join(f"{n} {s:.1f}" for n, s in spent.items()))


def _children(stack: Stack) -> dict[str, Any]:
    return {child.name: child for child in stack.children}


async def steady(
    stack: Stack, practices: list[PracticeSpec], *, rate: float, seconds: float, max_wait: float
) -> None:
    count = int(rate * seconds)
    chosen = [practices[(i * 7919) % len(practices)] for i in range(count)]
    lag, done = Lag(), asyncio.Event()
    started = time.monotonic()
    follower = asyncio.create_task(follow(stack, started, done, lag, max_wait=seconds + max_wait))
    events = []
    connection = await asyncpg.connect(stack.database_urls["performers"])
    try:
        for index, practice in enumerate(chosen):
            row = upserted(practice)
            events.append(row[0])
            await publish(connection, [row])
            await asyncio.sleep(max(0.0, started + (index + 1) / rate - time.monotonic()))
    finally:
        await connection.close()
    sent = time.monotonic() - started
    done.set()
    await follower
    print(
        f"steady: {count:,} practice.upserted at {rate:g}/s for {seconds:g} s, each its own "
        f"transaction (sent in {sent:.1f} s)"
    )
    for consumer in CONSUMERS.values():
        busy = [n for t, n in lag.samples.get(consumer, []) if t <= sent]
        drained = lag.drained_after(consumer)
        after = (
            f"{max(drained - sent, 0.0):.1f} s after the last"
            if drained is not None
            else f"not within {max_wait:.0f} s of the last"
        )
        print(
            f"  {consumer:19s} lag while sending: median {statistics.median(busy or [0]):,.0f},"
            f" peak {max(busy or [0]):,} events; drained {after}"
        )
    report_delays(await delays(stack, events), count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_nation_arguments(parser)
    parser.add_argument("--rate", type=float, default=20.0, help="steady events a second")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady flow's length")
    parser.add_argument("--max-wait", type=float, default=600.0, help="for a drain, seconds")
    args = parser.parse_args()
    nation = build(SIZES[args.size], seed=args.seed, as_of=dates.today())
    print(
        f"{args.size} data set, seed {args.seed}: {len(nation.practices):,} practices, "
        f"{len(nation.performers):,} performers, {nation.size.months} months of statements"
    )
    with national_stack(
        nation, workers=args.workers, fresh=args.fresh, prefix="pcse-bench-events-"
    ) as loaded:
        print("\n".join(loaded.report.lines()))
        stack = loaded.stack
        # The steady flow first, while every consumer is idle: after the burst, a slow
        # consumer would still be working through it.
        asyncio.run(
            steady(
                stack, nation.practices, rate=args.rate, seconds=args.seconds,
                max_wait=args.max_wait,
            )
        )  # fmt: skip
        asyncio.run(burst(stack, nation.practices, max_wait=args.max_wait))


if __name__ == "__main__":
    main()
