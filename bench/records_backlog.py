"""A practice's records backlog and an LMC's records summary through the gateway, on a
national-size set of movements.

Starts its own PostgreSQL and stack on free ports (no demo data), loads a synthetic nation
with COPY: about 6,500 practices in 120 LMCs, a third with branch sites, and ``--rows``
movements over two years (by default two million: PCSE moves a few million records a year),
with incidents and harm reviews. Then, through the gateway, asks for the backlog of a
different practice in each request and for the summary of a different LMC in each request
(the gateway merges identical in-flight requests, which would flatter it), and prints load
time, p50/p99 latency and throughput. Everything it starts, it stops.

    .venv/bin/python -m bench.records_backlog [--rows 2000000] [--requests 400] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from nhs_number.validate import calculate_checksum, is_valid
from pcse_kit import dates
from pcse_kit.postgres import EmbeddedPostgres
from records.timers import Targets, add_months, add_working_days

from stack import Stack, StackConfig

SEED = 2026
PRACTICES = 6_500
LMCS = 120
CHUNK = 100_000
TARGETS = Targets()
NOW = datetime.now(UTC)
TODAY = dates.local_date(NOW)

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
SUMMARY = """
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

# status: (weight, open, ages in days requested ago)
STATUSES: dict[str, tuple[float, tuple[int, int]]] = {
    "delivered": (0.80, (30, 730)),
    "cancelled": (0.03, (10, 730)),
    "no_paper_record": (0.03, (5, 730)),
    "in_central_storage": (0.02, (60, 730)),
    "lost": (0.003, (200, 730)),
    "missing": (0.007, (20, 400)),
    "requested": (0.04, (0, 90)),
    "in_progress": (0.025, (5, 90)),
    "ready_for_collection": (0.02, (10, 90)),
    "collected": (0.025, (15, 120)),
}
MOVEMENT_COLUMNS = [
    "id", "movement_number", "label_number", "nhs_number", "sender_place", "sender_ods_code",
    "sender_site_code", "receiver_place", "receiver_ods_code", "receiver_site_code", "reason",
    "urgency", "status", "requested_at", "status_changed_at", "deducted_on", "label_issued_on",
    "collected_at", "delivered_at", "received_at", "gp2gp_started_on", "gp2gp_integrated_on",
    "search_started_on", "label_due_on", "delivery_due_on", "gp2gp_due_on", "urgent_due_on",
    "search_due_on", "lost_due_on",
]  # fmt: skip


@cache
def working_days_after(start: date, days: int) -> date:
    return add_working_days(start, days)


def nhs_numbers(rng: random.Random, count: int) -> list[str]:
    numbers: set[str] = set()
    while len(numbers) < count:
        stem = f"999{rng.randint(0, 999_999):06d}"
        number = f"{stem}{calculate_checksum(stem)}"
        if is_valid(number):
            numbers.add(number)
    return sorted(numbers)


def practices(rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """(ODS code, LMC code, branch sites) for a nation's worth of practices."""
    codes: set[str] = set()
    while len(codes) < PRACTICES:
        codes.add(f"{rng.choice('ABCDEFGHJKLMNPY')}{rng.randint(80_000, 89_999)}")
    result = []
    for index, code in enumerate(sorted(codes)):
        sites = [f"{code}{n:03d}" for n in range(1, rng.choice((1, 1, 2, 3)))]
        result.append((code, f"bench-lmc-{index % LMCS:03d}", sites))
    return result


def movement_rows(
    rng: random.Random,
    first_id: int,
    count: int,
    directory: list[tuple[str, str, list[str]]],
    numbers: list[str],
) -> list[tuple[Any, ...]]:
    statuses = list(STATUSES)
    weights = [STATUSES[s][0] for s in statuses]
    rows = []
    for offset, status in enumerate(rng.choices(statuses, weights, k=count)):
        movement_id = first_id + offset
        low, high = STATUSES[status][1]
        requested_at = NOW - timedelta(days=rng.uniform(low, high))
        requested = dates.local_date(requested_at)
        sender, receiver = rng.sample(directory, 2)
        ends: list[Any] = ["practice", sender[0], None, "practice", receiver[0], None]
        roll = rng.random()
        if roll < 0.03:
            ends[3:] = ["central_storage", None, None]
        elif roll < 0.04:
            ends[3:] = [rng.choice(("wales", "scotland", "northern_ireland")), None, None]
        if sender[2] and rng.random() < 0.3:
            ends[2] = rng.choice(sender[2])
        if ends[4] and receiver[2] and rng.random() < 0.3:
            ends[5] = rng.choice(receiver[2])
        reason = rng.choices(
            ("registration_elsewhere", "emigration", "death", "request"), (80, 5, 5, 10)
        )[0]
        urgent = reason == "request" and rng.random() < 0.4
        deducted = requested if reason != "request" else None
        labelled = status not in {"requested", "cancelled", "no_paper_record"}
        label_on = min(TODAY, requested + timedelta(days=18)) if labelled and deducted else None
        moved = status in {"collected", "delivered", "in_central_storage", "lost", "missing"}
        collected_at = requested_at + timedelta(days=min(25, low - 1)) if moved else None
        delivered_at = min(NOW, collected_at + timedelta(days=rng.randint(2, 14))) if (
            status == "delivered" and collected_at is not None
        ) else None  # fmt: skip
        changed_at = delivered_at or collected_at or requested_at + timedelta(days=low / 2)
        gp2gp = requested if status == "no_paper_record" else None
        integrated = (
            gp2gp + timedelta(days=rng.randint(1, 12)) if gp2gp and rng.random() < 0.8 else None
        )
        search = (
            requested + timedelta(days=20)
            if status == "requested" and (TODAY - requested).days > 25 and rng.random() < 0.3
            else None
        )
        collected_on = None if collected_at is None else dates.local_date(collected_at)
        rows.append(
            (
                movement_id, f"MB{movement_id:010d}", f"PCS{movement_id:08d}" if label_on else None,
                numbers[movement_id % len(numbers)], *ends, reason,
                "urgent" if urgent else "routine", status, requested_at, changed_at, deducted,
                label_on, collected_at, delivered_at, delivered_at, gp2gp, integrated, search,
                working_days_after(deducted, TARGETS.label_working_days) if deducted else None,
                working_days_after(collected_on, TARGETS.delivery_working_days)
                if collected_on else None,
                working_days_after(gp2gp, TARGETS.gp2gp_working_days) if gp2gp else None,
                working_days_after(requested, TARGETS.urgent_working_days) if urgent else None,
                working_days_after(search, TARGETS.search_working_days) if search else None,
                add_months(dates.local_date(changed_at), TARGETS.lost_after_months)
                if status == "missing" else None,
            )
        )  # fmt: skip
    return rows


async def load(
    records_url: str, performers_url: str, rows: int, *, rng: random.Random
) -> tuple[list[str], list[str], float]:
    """The nation, into the records and performers databases; (practices, LMCs, seconds)."""
    started = time.perf_counter()
    directory = practices(rng)
    numbers = nhs_numbers(rng, 200_000)
    lmc_codes = sorted({lmc for _, lmc, _ in directory})

    performers = await asyncpg.connect(performers_url)
    try:
        await performers.copy_records_to_table(
            "lmc", records=[(c, f"Bench LMC {c[-3:]}") for c in lmc_codes], columns=["code", "name"]
        )
        await performers.copy_records_to_table(
            "practice",
            records=[
                (code, f"Practice {code}", "ZZ1 1ZZ", "QZZ", "99Z", lmc, "GMS", 8000)
                for code, lmc, _ in directory
            ],
            columns=["ods_code", "name", "postcode", "icb_code", "sub_icb_code", "lmc_code",
                     "contract_type", "list_size"],
        )  # fmt: skip
    finally:
        await performers.close()

    records = await asyncpg.connect(records_url)
    try:
        await records.copy_records_to_table(
            "practice_directory",
            records=[(code, lmc, f"Practice {code}") for code, lmc, _ in directory],
            columns=["ods_code", "lmc_code", "name"],
        )
        archived: list[tuple[int, str, str]] = []
        for first in range(1, rows + 1, CHUNK):
            chunk = movement_rows(rng, first, min(CHUNK, rows + 1 - first), directory, numbers)
            await records.copy_records_to_table("movement", records=chunk, columns=MOVEMENT_COLUMNS)
            archived.extend(
                (row[0], row[8], row[3])
                for row in chunk
                if row[12] == "in_central_storage" and row[8]
            )
            print(f"  loaded {first + len(chunk) - 1:>10,} movements", flush=True)
        await load_incidents(records, archived, rng)
        await records.execute("SELECT setval(pg_get_serial_sequence('movement', 'id'), $1)", rows)
        await records.execute("VACUUM ANALYZE")
    finally:
        await records.close()
    return [code for code, _, _ in directory], lmc_codes, time.perf_counter() - started


async def load_incidents(
    records: asyncpg.Connection[Any], archived: list[tuple[int, str, str]], rng: random.Random
) -> None:
    """Every record in storage for a registered patient is an erroneous-archiving incident,
    with its harm review (most done); and a sprinkling of the other kinds."""
    incidents: list[tuple[Any, ...]] = []
    reviews: list[tuple[Any, ...]] = []
    patients: set[tuple[str, str]] = set()
    for movement_id, ods_code, nhs in archived:
        incident_id = len(incidents) + 1
        incidents.append((incident_id, f"INC-B{incident_id:09d}", "erroneous_archiving",
                          movement_id, ods_code, NOW, "bench", "In storage.", None))  # fmt: skip
        if (ods_code, nhs) not in patients:
            patients.add((ods_code, nhs))
            outcome = rng.choice(("no_harm", "no_harm", "harm", "needs_follow_up", None))
            reviewer, reviewed = ("Dr Bench", TODAY) if outcome else (None, None)
            reviews.append((incident_id, movement_id, ods_code, nhs, outcome, reviewer, reviewed))
    await records.copy_records_to_table(
        "incident",
        records=incidents,
        columns=["id", "reference", "kind", "movement_id", "ods_code", "reported_at",
                 "reported_by", "detail", "found_nhs_number"],
    )  # fmt: skip
    await records.copy_records_to_table(
        "harm_review",
        records=reviews,
        columns=["incident_id", "movement_id", "ods_code", "nhs_number", "outcome", "reviewer",
                 "reviewed_on"],
    )  # fmt: skip
    await records.execute(
        "SELECT setval(pg_get_serial_sequence('incident', 'id'), $1)", len(incidents)
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(
    stack: Stack,
    query: str,
    requests: list[tuple[str, dict[str, Any]]],
    *,
    concurrency: int,
) -> tuple[list[float], float]:
    """Each request with its own token and variables; latencies in ms, and requests a second."""
    pending = list(reversed(requests))
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=60) as client:

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


def report(name: str, latencies: list[float], rate: float, concurrency: int) -> None:
    print(
        f"  {name:17s} {len(latencies):5d} requests  p50 {statistics.median(latencies):7.1f} ms"
        f"  p99 {percentile(latencies, 0.99):7.1f} ms  {rate:6.1f} req/s"
        f" (concurrency {concurrency})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="movements to load")
    parser.add_argument("--requests", type=int, default=400, help="requests per query")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    rng = random.Random(SEED)

    with tempfile.TemporaryDirectory(prefix="pcse-bench-records-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "postgres", durable=False)
        server.start()
        try:
            config = StackConfig.free_ports(
                Path(tmp) / "stack", server_url=server.dsn(), seed_demo=False
            )
            config.extra_env["GATEWAY_RATE_LIMIT"] = "0"
            with Stack(config) as stack:
                print(f"loading {args.rows:,} movements into {stack.database_urls['records']}")
                codes, lmcs, seconds = asyncio.run(
                    load(
                        stack.database_urls["records"],
                        stack.database_urls["performers"],
                        args.rows,
                        rng=rng,
                    )
                )
                print(f"  load time {seconds:.1f} s (COPY, incidents, VACUUM ANALYZE)")
                sample = rng.sample(codes, min(args.requests, len(codes)))
                backlog = [
                    (stack.token("practice", [code]), {"ods": code})
                    for code in (sample * (args.requests // len(sample) + 1))[: args.requests]
                ]
                summaries = [
                    (stack.token("lmc", [lmcs[i % len(lmcs)]]), {"code": lmcs[i % len(lmcs)]})
                    for i in range(args.requests)
                ]
                asyncio.run(measure(stack, BACKLOG, backlog[:20], concurrency=2))  # warm up
                asyncio.run(measure(stack, SUMMARY, summaries[-4:], concurrency=2))
                print("through the gateway, a different practice or LMC in each request:")
                latencies, rate = asyncio.run(
                    measure(stack, BACKLOG, backlog, concurrency=args.concurrency)
                )
                report("practice backlog", latencies, rate, args.concurrency)
                latencies, rate = asyncio.run(
                    measure(stack, SUMMARY, summaries, concurrency=args.concurrency)
                )
                report("LMC summary", latencies, rate, args.concurrency)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
