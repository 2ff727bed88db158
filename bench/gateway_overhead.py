"""The client contract query through the gateway, against the same parts sent straight to the
subgraphs, measured side by side in one run.

Each request asks for a different practice (the gateway merges identical in-flight requests,
which would flatter it). The direct path does what the query plan does: the performers part
first, then the payments and records parts at the same time. Prints p50/p99 latency at
concurrency 1, throughput at concurrency 8, CPU milliseconds per request of every process, and
each process's peak resident memory.

    .venv/bin/python -m bench.gateway_overhead [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from stack import ROOT, Stack, StackConfig

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
TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    practices = [
        p["odsCode"]
        for p in json.loads((ROOT / "demo" / "directory.json").read_text())["practices"]
    ]
    with tempfile.TemporaryDirectory(prefix="pcse-bench-") as tmp:
        config = StackConfig.free_ports(Path(tmp), seed_demo=True)
        config.extra_env["GATEWAY_RATE_LIMIT"] = "0"
        with Stack(config) as stack:
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


if __name__ == "__main__":
    main()
