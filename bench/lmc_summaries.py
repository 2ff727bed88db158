"""The three LMC summaries, a practice's whole status and its records backlog, through the
gateway, on the national data set.

Starts its own PostgreSQL and stack on free ports (no demo data) and loads the nation
(``bench.national``; its load time is printed part by part). Then, each request with its own
caller's token and a different LMC or practice each time (the gateway merges identical
in-flight requests, which would flatter it):

- every query over all LMCs, or over practices spread across the directory: p50 and p99 at
  concurrency 1, then p50, p99 and requests a second at concurrency 4, and CPU milliseconds
  per request of the gateway and of each service over both;
- each LMC summary for the largest LMC and for the smallest, interleaved at concurrency 1:
  the ratio of their p50s says how a summary grows with the size of the area;
- peak resident memory of every process at the end.

Targets: each LMC summary's p50 (concurrency 1) under 100 ms; for the largest LMC and the
smallest, p50 and p99 under 100 ms. The nation is loaded once and kept
(``bench.national.cache``): a later run starts on a copy. Everything it starts, it stops.

    .venv/bin/python -m bench.lmc_summaries [--size national] [--requests 200] [--concurrency 4]
        [--largest-only] [--rounds N]

``--largest-only`` measures the largest LMC against the smallest alone (a few minutes less on
the national data set, for a quick look at the area's cost); ``--rounds`` sets how many of
each it times there (by default a quarter of ``--requests``, at least 20).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx
from pcse_kit import dates

from bench.measure import cpu_seconds, load_average, peak_rss_mb, percentile
from bench.national import SIZES, Nation, build
from bench.national.cache import add_nation_arguments, national_stack
from stack import ROOT, Stack

TARGET_MS = 100
PAYMENTS = """
query ($code: String!) {
  lmc(code: $code) {
    paymentsSummary {
      practices
      anomalies { kind count amountAtStake practicesAffected practiceCodes }
      openDisputes { reference odsCode ageDays escalatable }
      escalatableDisputes
    }
  }
}
"""
RECORDS = """
query ($code: String!) {
  lmc(code: $code) {
    recordsSummary {
      practiceCount
      statusCounts { status incoming outgoing }
      open { open awaitingCollection inTransit missing overdue ages { label count } }
      overdueByTimer { timer count }
      incidentsByKind { kind count }
      harmReviews { total reviewed outstanding }
      practices { odsCode open awaitingCollection inTransit overdue incidents
                  harmReviewsOutstanding }
    }
  }
}
"""
PERFORMERS = """
query ($code: String!) {
  lmc(code: $code) {
    code name icbCodes
    practices(first: 50) { nodes { odsCode name } }
    performerCounts { status count }
    changeRequestAges { open withinTarget overdue beyondSixteenWeeks }
    findingCounts { kind count }
  }
}
"""
BACKLOG = """
query ($ods: String!) {
  practice(odsCode: $ods) {
    odsCode
    recordsBacklog {
      incoming { open awaitingCollection inTransit missing overdue ages { label count } }
      outgoing { open awaitingCollection inTransit missing overdue ages { label count } }
      sites { siteCode incoming { open overdue } outgoing { open overdue } }
    }
  }
}
"""
CONTRACT = (ROOT / "demo" / "practice-status.graphql").read_text()
SUMMARIES = {"payments": PAYMENTS, "records": RECORDS, "performers": PERFORMERS}

Request = tuple[str, dict[str, Any]]
"""A token and the variables."""


async def measure(
    stack: Stack, query: str, requests: list[Request], *, concurrency: int
) -> tuple[list[float], float]:
    """Latencies in ms, and requests a second."""
    pending = list(reversed(requests))
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=120) as client:

        async def worker() -> None:
            while pending:
                token, variables = pending.pop()
                started = time.perf_counter()
                response = await client.post(
                    stack.gateway_url,
                    json={"query": query, "variables": variables},
                    headers={"authorization": f"Bearer {token}"},
                )
                body = response.json()
                latencies.append((time.perf_counter() - started) * 1000)
                assert "errors" not in body, body

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, len(requests) / (time.perf_counter() - started)


def run(stack: Stack, name: str, query: str, requests: list[Request], *, concurrency: int) -> float:
    """Measure and print one query at concurrency 1 and at ``concurrency``; return the p50 at
    concurrency 1, the latency a caller sees on a quiet system."""
    pids = {child.name: child.process.pid for child in stack.children}
    asyncio.run(measure(stack, query, requests[:8], concurrency=2))  # warm caches and pools
    before = {n: cpu_seconds(pid) for n, pid in pids.items()}
    alone, _ = asyncio.run(measure(stack, query, requests, concurrency=1))
    busy, rate = asyncio.run(measure(stack, query, requests, concurrency=concurrency))
    spent = {
        n: (cpu_seconds(pid) - before[n]) * 1000 / (2 * len(requests)) for n, pid in pids.items()
    }
    p50 = statistics.median(alone)
    print(
        f"  {name:22s} concurrency 1: p50 {p50:7.1f} ms  p99 {percentile(alone, 0.99):7.1f} ms"
        f"   concurrency {concurrency}: p50 {statistics.median(busy):7.1f} ms"
        f"  p99 {percentile(busy, 0.99):7.1f} ms  {rate:6.1f} req/s"
    )
    print(
        f"  {'':22s} CPU ms per request: " + ", ".join(f"{n} {ms:.1f}" for n, ms in spent.items())
    )
    return p50


def largest_against_smallest(stack: Stack, nation: Nation, rounds: int) -> None:
    sizes = {lmc.code: 0 for lmc in nation.lmcs}
    for practice in nation.practices:
        sizes[practice.lmc_code] += 1
    largest = max(sizes, key=lambda c: (sizes[c], c))
    smallest = min(sizes, key=lambda c: (sizes[c], c))
    print(
        f"largest LMC ({largest}, {sizes[largest]} practices) against the smallest "
        f"({smallest}, {sizes[smallest]}: {sizes[largest] / sizes[smallest]:.0f} times the "
        f"practices), interleaved, concurrency 1, {rounds} each; load average "
        + load_average()
        + ":"
    )
    for service, query in SUMMARIES.items():
        timings: dict[str, list[float]] = {largest: [], smallest: []}
        tokens = {code: stack.token("lmc", [code]) for code in timings}
        # One of each first, untimed, as ``run`` warms up: the first request of a query pays
        # once for what later ones find cached (the gateway's query plan, the service's
        # compiled and prepared statements), and with 20 rounds the p99 is the slowest.
        for code in timings:
            asyncio.run(measure(stack, query, [(tokens[code], {"code": code})], concurrency=1))
        for _ in range(rounds):
            for code in (largest, smallest):
                latencies, _ = asyncio.run(
                    measure(stack, query, [(tokens[code], {"code": code})], concurrency=1)
                )
                timings[code] += latencies
        big, small = (statistics.median(timings[c]) for c in (largest, smallest))
        big99, small99 = (percentile(timings[c], 0.99) for c in (largest, smallest))
        worst = max(big, small, big99, small99)
        verdict = "met" if worst < TARGET_MS else f"MISSED ({worst:.1f} ms)"
        print(
            f"  {service:11s} largest p50 {big:7.1f} p99 {big99:7.1f} ms   smallest p50 "
            f"{small:7.1f} p99 {small99:7.1f} ms   p50 ratio {big / small:5.2f}   target "
            f"p50 and p99 < {TARGET_MS} ms: {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_nation_arguments(parser)
    parser.add_argument("--requests", type=int, default=200, help="requests per query")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--largest-only",
        action="store_true",
        help="only each LMC summary for the largest LMC against the smallest",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="requests of each LMC there (default: a quarter of --requests, at least 20)",
    )
    args = parser.parse_args()
    nation = build(SIZES[args.size], seed=args.seed, as_of=dates.today())
    print(
        f"{args.size} data set, seed {args.seed}: {len(nation.practices):,} practices, "
        f"{len(nation.lmcs)} LMCs, {len(nation.performers):,} performers, "
        f"{nation.size.months} months of statements, {nation.size.movements:,} movements"
    )
    with national_stack(
        nation,
        workers=args.workers,
        fresh=args.fresh,
        writes=False,
        extra_env={"GATEWAY_RATE_LIMIT": "0"},
    ) as loaded:
        print("\n".join(loaded.report.lines()))
        measure_all(loaded.stack, nation, args)
        print("peak resident memory:")
        for child in loaded.stack.children:
            print(f"  {child.name:11s} {peak_rss_mb(child.process.pid):7.1f} MB")


def measure_all(stack: Stack, nation: Nation, args: argparse.Namespace) -> None:
    count = args.requests
    rounds = args.rounds or max(20, count // 4)
    if args.largest_only:
        largest_against_smallest(stack, nation, rounds=rounds)
        return
    lmcs = [lmc.code for lmc in nation.lmcs]
    open_practices = [p.ods_code for p in nation.practices if p.status == "active"]
    by_lmc = [(stack.token("lmc", [lmcs[i % len(lmcs)]]), {"code": lmcs[i % len(lmcs)]})
              for i in range(count)]  # fmt: skip
    print(f"through the gateway, {count} requests per query and concurrency, a different LMC or "
          f"practice in each (target: LMC summary p50 < {TARGET_MS} ms):")  # fmt: skip
    results = {
        service: run(stack, f"{service} LMC summary", query, by_lmc, concurrency=args.concurrency)
        for service, query in SUMMARIES.items()
    }
    for service, p50 in results.items():
        verdict = "met" if p50 < TARGET_MS else f"missed by {p50 - TARGET_MS:.1f} ms"
        print(f"  {service} LMC summary p50 {p50:.1f} ms: target {verdict}")
    # Practices spread over the whole directory, repeated only when there are too few.
    spread = open_practices[:: max(1, len(open_practices) // count)]
    spread = (spread * (count // len(spread) + 1))[:count]
    as_practice = [(stack.token("practice", [code]), {"ods": code}) for code in spread]
    run(stack, "practice status", CONTRACT, as_practice, concurrency=args.concurrency)
    run(stack, "records backlog", BACKLOG, as_practice, concurrency=args.concurrency)
    largest_against_smallest(stack, nation, rounds=rounds)


if __name__ == "__main__":
    main()
