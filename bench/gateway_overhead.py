"""The client contract query through the gateway, against the same parts sent straight to the
subgraphs, measured side by side in one run; then the gateway alone at fixed arrival rates.

Each request asks for a different practice, cycling over the demo practices, so no cache or
merging of identical requests flatters either path. The direct path does what the query plan
does: the performers part first, then the payments and records parts at the same time. Prints
p50/p99 latency at concurrency 1, throughput at concurrency 8, CPU milliseconds per request of
every process, and each process's peak resident memory.

The open-loop phase checks the issue's target, p99 under 50 ms at 100 requests per second. At
each rate in ``--rates`` (ascending) the contract query is due through the gateway on a fixed
schedule for ``--duration`` seconds, whether or not earlier requests have been answered, so a
stack that cannot keep up queues and the queueing shows in the latency. ``--connections``
clients, each with its own keep-alive connection, send the requests as they fall due; one due
while all are busy waits for the first free client. Latency runs from the scheduled time to the
answer (or to the failure, for an error), so it counts that wait and any lateness of this
process. For each rate it prints the achieved rate (answers without error over the time from the
first scheduled send to the last answer), p50, p99 and max latency, errors by kind (a transport
failure, a status other than 200, or a GraphQL error code), this process's p99 lateness in
queueing a request, and CPU milliseconds per request of every process, this one included: on a
small machine the load generator competes with the stack, so it speaks HTTP through h11 rather
than httpx (about 1 ms of CPU a request here, against 3 to 4 ms). A rate the machine cannot
sustain still finishes, and the figures show by how much the target is missed. Each open-loop
request carries its own practice's token (a practice-role token per demo practice), verified by
the gateway and again by each subgraph; each process's CPU per request is set against its
budget (3 ms for each subgraph's part, 3 ms for the gateway).

Measuring starts once the start-up's events have been applied everywhere (every outbox empty,
every consumer caught up). Last, the token caches are measured off against on: a second stack
with ``GATEWAY_AUTH_CACHE_SIZE`` and every ``*_AUTH_CACHE_SIZE`` at 0, the same open loop at
25 requests a second sent to each stack in turn for ``--rounds`` rounds, so that the machine's
changing load falls on both; CPU per request of each process and p50/p99, with their ratios.

    .venv/bin/python -m bench.gateway_overhead [--requests 300]
        [--rates 25,100] [--duration 10] [--connections 64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import h11
import httpx

from bench.measure import cpu_seconds, load_average, peak_rss_mb, percentile, wait_for_events
from stack import ROOT, SERVICES, Stack, StackConfig

QUERY = (ROOT / "demo" / "practice-status.graphql").read_text()
PERFORMERS_PART = """
query ($ods: String!) {
  practice(odsCode: $ods) { odsCode name lmc { code name } performers { gmcNumber name status } }
}
"""
PAYMENTS_PART = """
query ($r: [_Any!]!) { _entities(representations: $r) { ... on Practice { payments {
  statements(first: 3) { nodes { period paymentDate gross deductions net
    lines { component paycode amount } } } } } } }
"""
RECORDS_PART = """
query ($r: [_Any!]!) { _entities(representations: $r) { ... on Practice {
  recordMovements(first: 5) { nodes { movementNumber direction status ageDays daysInStatus }
    pageInfo { hasNextPage endCursor } } } } }
"""
TARGET_RATE = 100.0
CPU_BUDGET_MS: dict[str, float] = {
    "payments": 3.0,
    "records": 3.0,
    "performers": 3.0,
    "gateway": 3.0,
}
"""CPU milliseconds each process may spend on its part of one contract query."""
AB_RATE = 25.0
"""The rate at which the token caches are measured on and off, side by side."""
TARGET_P99_MS = 50.0
OPEN_LOOP_TIMEOUT_SECONDS = 60.0
"""Per answer, once sent: long enough that an open-loop error is the stack failing under an
overload's queue, not this client giving up."""


async def via_gateway(client: httpx.AsyncClient, stack: Stack, ods: str) -> None:
    response = await client.post(
        stack.gateway_url, json={"query": QUERY, "variables": {"ods": ods}}
    )
    body = response.json()
    assert "errors" not in body, body


async def direct(client: httpx.AsyncClient, stack: Stack, ods: str) -> None:
    first = await client.post(
        stack.service_url("performers"), json={"query": PERFORMERS_PART, "variables": {"ods": ods}}
    )
    assert "errors" not in first.json()
    reps = {"r": [{"__typename": "Practice", "odsCode": ods}]}
    payments, records = await asyncio.gather(
        client.post(
            stack.service_url("payments"), json={"query": PAYMENTS_PART, "variables": reps}
        ),
        client.post(stack.service_url("records"), json={"query": RECORDS_PART, "variables": reps}),
    )
    assert "errors" not in payments.json()
    assert "errors" not in records.json()


async def latencies(
    stack: Stack, practices: list[str], requests: int, headers: dict[str, str]
) -> tuple[list[float], list[float]]:
    """Concurrency 1, the two paths interleaved so that noise falls on both alike."""
    gateway: list[float] = []
    straight: list[float] = []
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        for i in range(requests):
            ods = practices[i % len(practices)]
            for path, sink in ((via_gateway, gateway), (direct, straight)):
                started = time.perf_counter()
                await path(client, stack, ods)
                sink.append((time.perf_counter() - started) * 1000)
    return gateway, straight


async def throughput(
    stack: Stack, practices: list[str], requests: int, headers: dict[str, str], path: Any
) -> float:
    queue = list(range(requests))
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:

        async def worker() -> None:
            while queue:
                i = queue.pop()
                await path(client, stack, practices[i % len(practices)])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(8)))
        return requests / (time.perf_counter() - started)


@dataclass
class OpenLoop:
    rate: float
    sent: int
    errors: Counter[str]
    """Failed requests by kind: an HTTP status, a GraphQL error code, or an exception."""
    elapsed: float
    """Seconds from the first scheduled send to the last answer."""
    latencies: list[float]
    """Milliseconds from each request's scheduled send to its answer or failure."""
    lags: list[float]
    """Milliseconds by which this process queued each request after its scheduled time."""
    cpu_ms: dict[str, float]
    """CPU milliseconds per request of each process over the phase, this client included."""

    @property
    def achieved(self) -> float:
        """Answers without error per second."""
        return (self.sent - self.errors.total()) / self.elapsed


class Connection:
    """One keep-alive HTTP/1.1 connection to the gateway, with h11 for the protocol.

    The open-loop phase sends hundreds of requests a second from this process, on a machine the
    stack shares: httpx's pool costs milliseconds of CPU a request and, with hundreds waiting,
    more, which would starve the stack it is measuring.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.target = parts.path.encode()
        self.headers = [
            ("host", f"{self.host}:{self.port}"),
            ("content-type", "application/json"),
            *headers.items(),
        ]
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.protocol = h11.Connection(h11.CLIENT)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # The gateway closes a connection left idle for 5 s; start afresh then, or after a failure.
        if self.streams is None or self.streams[0].at_eof():
            self.close()
            self.streams = await asyncio.open_connection(self.host, self.port)
            self.protocol = h11.Connection(h11.CLIENT)
        return self.streams

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None

    async def post(
        self, body: bytes, headers: tuple[tuple[str, str], ...] = ()
    ) -> tuple[int, bytes]:
        reader, writer = await self._open()
        request = h11.Request(
            method="POST",
            target=self.target,
            headers=[*self.headers, *headers, ("content-length", str(len(body)))],
        )
        writer.write(
            self.protocol.send(request)
            + self.protocol.send(h11.Data(data=body))
            + self.protocol.send(h11.EndOfMessage())
        )
        status = 0
        chunks: list[bytes] = []
        while True:
            event = self.protocol.next_event()
            if event is h11.NEED_DATA:
                self.protocol.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise ConnectionError(f"the gateway ended the exchange with {event!r}")
        if self.protocol.our_state is h11.DONE and self.protocol.their_state is h11.DONE:
            self.protocol.start_next_cycle()
        else:  # the gateway said it would close the connection
            self.close()
        return status, b"".join(chunks)


def failure_kinds(status: int, answer: bytes) -> list[str]:
    """The GraphQL error codes of a failed answer, or its HTTP status when it has none."""
    try:
        errors = json.loads(answer).get("errors") or []
        codes = [str((e.get("extensions") or {}).get("code", "no code")) for e in errors]
    except (ValueError, AttributeError):
        codes = []
    return codes[:1] or [f"HTTP {status}"]


async def open_loop(
    stack: Stack,
    practices: list[str],
    tokens: dict[str, str],
    *,
    rate: float,
    count: int,
    connections: int,
) -> tuple[list[float], list[float], Counter[str], float]:
    """``count`` contract queries through the gateway, one every ``1 / rate`` seconds, each
    for the next practice in ``practices`` with that practice's own token from ``tokens``.

    ``connections`` clients send them, each a request at a time; a request due while all are
    busy waits for the first free one, and its latency includes the wait.
    """
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    lags: list[float] = []
    errors: Counter[str] = Counter()
    due_requests: asyncio.Queue[tuple[float, bytes, str] | None] = asyncio.Queue()

    async def client() -> None:
        connection = Connection(stack.gateway_url, {})
        try:
            while (item := await due_requests.get()) is not None:
                due, body, token = item
                try:
                    status, answer = await asyncio.wait_for(
                        connection.post(body, (("authorization", f"Bearer {token}"),)),
                        OPEN_LOOP_TIMEOUT_SECONDS,
                    )
                    if status != httpx.codes.OK or b'"errors"' in answer:
                        errors.update(failure_kinds(status, answer))
                except (OSError, h11.ProtocolError, TimeoutError) as exc:
                    connection.close()
                    errors[type(exc).__name__] += 1
                latencies.append((loop.time() - due) * 1000)
        finally:
            connection.close()

    clients = [asyncio.create_task(client()) for _ in range(connections)]
    start = loop.time() + 0.05
    for i in range(count):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append((loop.time() - due) * 1000)
        ods = practices[i % len(practices)]
        body = json.dumps({"query": QUERY, "variables": {"ods": ods}}).encode()
        due_requests.put_nowait((due, body, tokens[ods]))
    for _ in clients:
        due_requests.put_nowait(None)
    await asyncio.gather(*clients)
    return latencies, lags, errors, loop.time() - start


async def open_loop_tokens(
    stack: Stack, practices: list[str], tokens: dict[str, str], *, rate: float, count: int
) -> tuple[list[float], Counter[str]]:
    """The open loop's latencies and errors alone (the profiler's load)."""
    latencies, _lags, errors, _elapsed = await open_loop(
        stack, practices, tokens, rate=rate, count=count, connections=32
    )
    return latencies, errors


def run_open_loop(
    stack: Stack,
    practices: list[str],
    tokens: dict[str, str],
    pids: dict[str, int],
    *,
    rate: float,
    duration: float,
    connections: int,
) -> OpenLoop:
    count = max(1, round(rate * duration))
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    client_before = time.process_time()
    latencies, lags, errors, elapsed = asyncio.run(
        open_loop(stack, practices, tokens, rate=rate, count=count, connections=connections)
    )
    spent = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    spent["client"] = time.process_time() - client_before
    return OpenLoop(
        rate=rate,
        sent=count,
        errors=errors,
        elapsed=elapsed,
        latencies=latencies,
        lags=lags,
        cpu_ms={name: seconds * 1000 / count for name, seconds in spent.items()},
    )


def print_open_loop(results: list[OpenLoop], duration: float) -> None:
    print(
        f"open loop through the gateway, {duration:g} s per rate, ms from the scheduled send"
        f" (target p99 < {TARGET_P99_MS:g} ms at {TARGET_RATE:g} req/s)"
    )
    print("  offered   achieved      p50      p99      max   errors   late p99")
    for result in results:
        print(
            f"  {result.rate:5.0f}/s  {result.achieved:7.1f}/s"
            f" {statistics.median(result.latencies):8.1f}"
            f" {percentile(result.latencies, 0.99):8.1f} {max(result.latencies):8.1f}"
            f" {result.errors.total():8d} {percentile(result.lags, 0.99):10.1f}"
            + "".join(f"   {kind} x{n}" for kind, n in result.errors.most_common())
        )
    print(
        "  CPU ms per request "
        + "".join(f"{result.rate:8.0f}/s" for result in results)
        + "    budget"
    )
    for name in results[0].cpu_ms:
        budget = CPU_BUDGET_MS.get(name)
        print(
            f"    {name:16s}"
            + "".join(f"{result.cpu_ms[name]:10.2f}" for result in results)
            + (
                ""
                if budget is None
                else f"   <= {budget:g}: "
                + ("met" if all(r.cpu_ms[name] <= budget for r in results) else "missed")
            )
        )
    for result in results:
        if result.rate == TARGET_RATE:
            p99 = percentile(result.latencies, 0.99)
            verdict = "met" if p99 < TARGET_P99_MS and not result.errors else "missed"
            print(
                f"  target {verdict}: p99 {p99:.1f} ms at {result.rate:g} req/s offered"
                f" ({p99 / TARGET_P99_MS:.1f} x the {TARGET_P99_MS:g} ms limit),"
                f" {result.achieved:.1f} req/s achieved, {result.errors.total()} errors"
            )


def rates_argument(value: str) -> list[float]:
    rates = sorted(float(item) for item in value.split(",") if item.strip())
    if not rates or rates[0] <= 0:
        raise argparse.ArgumentTypeError("rates are positive numbers, comma-separated")
    return rates


def settle(stack: Stack) -> float:
    """Wait for the start-up's events (the demo data's) to be applied everywhere."""
    return wait_for_events([stack.metrics_url(name) for name in SERVICES])


def practice_tokens(stack: Stack, practices: list[str]) -> dict[str, str]:
    """Each practice's own practice-role token: every request's is verified afresh unless a
    verifier remembers it."""
    return {code: stack.token("practice", [code]) for code in practices}


CACHES_OFF: Final = {
    "GATEWAY_AUTH_CACHE_SIZE": "0",
    **{f"{name.upper()}_AUTH_CACHE_SIZE": "0" for name in SERVICES},
}


@dataclass
class Comparison:
    """The same open loop against two stacks, alternated round by round."""

    labels: tuple[str, str]
    cpu_ms: dict[str, dict[str, float]]
    """Per label, CPU milliseconds per request of each process."""
    latencies: dict[str, list[float]]
    errors: dict[str, int]


def compare(
    stacks: dict[str, tuple[Stack, dict[str, str]]],
    practices: list[str],
    *,
    rate: float,
    duration: float,
    rounds: int,
    connections: int,
) -> Comparison:
    """Each stack in turn, ``rounds`` times, so that a change in the machine's load falls on
    both alike; CPU summed over the rounds from /proc."""
    labels = tuple(stacks)
    spent: dict[str, dict[str, float]] = {label: defaultdict(float) for label in labels}
    sent: Counter[str] = Counter()
    answered: dict[str, list[float]] = {label: [] for label in labels}
    errors: Counter[str] = Counter()
    for _ in range(rounds):
        for label, (stack, tokens) in stacks.items():
            pids = {child.name: child.process.pid for child in stack.children}
            result = run_open_loop(
                stack,
                practices,
                tokens,
                pids,
                rate=rate,
                duration=duration,
                connections=connections,
            )
            for name, ms in result.cpu_ms.items():
                spent[label][name] += ms * result.sent
            sent[label] += result.sent
            answered[label] += result.latencies
            errors[label] += result.errors.total()
    return Comparison(
        labels=(labels[0], labels[1]),
        cpu_ms={
            label: {name: total / sent[label] for name, total in spent[label].items()}
            for label in labels
        },
        latencies=answered,
        errors=dict(errors),
    )


def print_comparison(comparison: Comparison, *, rate: float, duration: float, rounds: int) -> None:
    before, after = comparison.labels
    print(
        f"{before} against {after}: {rate:g} req/s open loop, {rounds} rounds of {duration:g} s"
        " each, the two stacks alternated"
    )
    print(f"  {'':20s}{before:>12s}{after:>12s}{'ratio':>8s}")
    for name in comparison.cpu_ms[after]:
        b, a = comparison.cpu_ms[before][name], comparison.cpu_ms[after][name]
        print(f"  {name + ' CPU ms/req':20s}{b:12.2f}{a:12.2f}{b / a if a else float('nan'):8.2f}")
    for label, fraction in (("p50 ms", 0.5), ("p99 ms", 0.99)):
        b = percentile(comparison.latencies[before], fraction)
        a = percentile(comparison.latencies[after], fraction)
        print(f"  {label:20s}{b:12.1f}{a:12.1f}{b / a:8.2f}")
    print(
        f"  {'errors':20s}{comparison.errors.get(before, 0):12d}"
        f"{comparison.errors.get(after, 0):12d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per path, concurrency 1 and 8")
    parser.add_argument(
        "--rates",
        type=rates_argument,
        default=[25.0, TARGET_RATE],
        help="open-loop arrival rates in requests per second, comma-separated (25,100)",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of sending at each open-loop rate"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=64,
        help="open-loop clients, each with its own connection and a request at a time",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds of the token caches on and off, alternated (0: no comparison)",
    )
    args = parser.parse_args()
    practices = [
        p["odsCode"]
        for p in json.loads((ROOT / "demo" / "directory.json").read_text())["practices"]
    ]
    comparison: Comparison | None = None
    with (
        tempfile.TemporaryDirectory(prefix="pcse-bench-") as tmp,
        tempfile.TemporaryDirectory(prefix="pcse-bench-off-") as tmp_off,
    ):
        config = StackConfig.free_ports(Path(tmp), seed_demo=True)
        config.extra_env["GATEWAY_RATE_LIMIT"] = "0"
        with Stack(config) as stack:
            waited = settle(stack)
            print(f"events of the start-up applied after {waited:.1f} s more; measuring")
            headers = {"authorization": f"Bearer {stack.token('admin')}"}
            pids = {child.name: child.process.pid for child in stack.children}
            asyncio.run(latencies(stack, practices, 30, headers))  # warm caches and pools
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            gateway, straight = asyncio.run(latencies(stack, practices, args.requests, headers))
            cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
            gateway_rps = asyncio.run(
                throughput(stack, practices, args.requests, headers, via_gateway)
            )
            direct_rps = asyncio.run(throughput(stack, practices, args.requests, headers, direct))
            peaks = {name: peak_rss_mb(pid) for name, pid in pids.items()}
            tokens = practice_tokens(stack, practices)
            loops = [
                run_open_loop(
                    stack,
                    practices,
                    tokens,
                    pids,
                    rate=rate,
                    duration=args.duration,
                    connections=args.connections,
                )
                for rate in args.rates
            ]
            if args.rounds > 0:
                off_config = StackConfig.free_ports(Path(tmp_off), seed_demo=True)
                off_config.extra_env.update({"GATEWAY_RATE_LIMIT": "0", **CACHES_OFF})
                with Stack(off_config) as off:
                    settle(off)
                    off_tokens = practice_tokens(off, practices)
                    asyncio.run(
                        open_loop_tokens(off, practices, off_tokens, rate=20, count=72)
                    )  # warm its pools as the first stack's are
                    comparison = compare(
                        {"caches off": (off, off_tokens), "caches on": (stack, tokens)},
                        practices,
                        rate=AB_RATE,
                        duration=args.duration,
                        rounds=args.rounds,
                        connections=args.connections,
                    )

    g50, d50 = statistics.median(gateway), statistics.median(straight)
    print(f"contract query, {args.requests} requests per path, a different practice each time")
    print(f"  concurrency 1   gateway p50 {g50:6.2f} ms  p99 {percentile(gateway, 0.99):6.2f} ms")
    print(f"                  direct  p50 {d50:6.2f} ms  p99 {percentile(straight, 0.99):6.2f} ms")
    print(f"  gateway adds    {g50 - d50:6.2f} ms at p50 (ratio {g50 / d50:.2f}; target <= 3 ms)")
    print(
        f"  concurrency 8   gateway {gateway_rps:7.1f} req/s   direct {direct_rps:7.1f} req/s"
        f"   ratio {gateway_rps / direct_rps:.2f}"
    )
    # Both paths ran in the CPU window; each request was made once through each path.
    print("  CPU ms per request (both paths, concurrency-1 phase), peak RSS:")
    for name in pids:
        spent = (cpu_after[name] - cpu_before[name]) * 1000 / args.requests
        print(f"    {name:11s} {spent:7.2f} ms/request   peak {peaks[name]:7.1f} MB")
    print_open_loop(loops, args.duration)
    if comparison is not None:
        print_comparison(comparison, rate=AB_RATE, duration=args.duration, rounds=args.rounds)
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
