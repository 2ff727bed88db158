"""A day's records feed by COPY against the same kind of lines as a loop of per-row mutations,
side by side; and the LMC records summary's p50 through the gateway, on the national data set.

Starts its own PostgreSQL and stack on free ports (no demo data), loads the national data set's
performers and records parts (``bench.national``: a year of registrations and about six
million movements; its load time is printed part by part), then:

- the LMC records summary (every field, trends included) for each LMC in turn through the
  gateway, each with its own LMC's token, at concurrency 1: p50 and p99;
- a feed of ``--lines`` lines (25,000 by default, a working day's nationally: movements opened,
  labels issued, records marked ready, collections and deliveries) made from the loaded
  movements and applied in one go by the service's own loader (COPY, one transaction, the
  detection included), timed from start to commit;
- ``--loop-lines`` lines of the same kinds, on other movements, each sent as its mutation
  (``requestRecordMovement``, ``updateRecordMovement``, ``recordCourierScan``) to the records
  subgraph directly, one after another: what a client without the feed would do;
- lines per second of each, and the ratio.

Everything it starts, it stops. It asserts nothing about speed.

    .venv/bin/python -m bench.records_feed [--size national] [--lines 25000] [--loop-lines 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
from pcse_kit import dates
from pcse_kit.auth import Principal, Role
from pcse_kit.db import create_engine, create_sessionmaker
from records import feed
from records.settings import timer_targets

from bench.measure import load_average, percentile
from bench.national import SIZES, build
from bench.national.cache import add_nation_arguments, national_stack

if TYPE_CHECKING:
    from stack import Stack

SUMMARY = """
query ($code: String!) {
  lmc(code: $code) {
    recordsSummary {
      practiceCount
      statusCounts { status incoming outgoing }
      open { open awaitingCollection inTransit missing lost inStorage wrongRecord overdue
             ages { label count } }
      overdueByTimer { timer count }
      incidentsByKind { kind count }
      harmReviews { total reviewed outstanding overdue minutesSpent }
      practices { odsCode open awaitingCollection inTransit overdue incidents
                  harmReviewsOutstanding }
      trends { kind months { month count suppressed per100Practices
                             englandMedianPer100Practices } }
    }
  }
}
"""
# A day's lines, by kind: (share, the movements' status it needs, or None for a new one).
MIX = (
    ("opened", 0.2, None),
    ("label", 0.2, "requested"),
    ("status", 0.2, "in_progress"),
    ("collection", 0.2, "ready_for_collection"),
    ("delivery", 0.2, "collected"),
)
OPERATOR = Principal(subject="bench-feed", role=Role.OPERATOR, scope=frozenset({"records"}))


def summary_p50(stack: Stack, lmcs: list[str], rounds: int) -> tuple[float, float]:
    """Each LMC's summary in turn, ``rounds`` times, concurrency 1: (p50, p99) in ms."""
    latencies: list[float] = []
    tokens = {code: stack.token("lmc", [code]) for code in lmcs}
    with httpx.Client(timeout=120) as client:
        for code in lmcs[:3]:  # warm the pools and the medians' cache
            client.post(stack.gateway_url, json={"query": SUMMARY, "variables": {"code": code}},
                        headers={"authorization": f"Bearer {tokens[code]}"})  # fmt: skip
        for _ in range(rounds):
            for code in lmcs:
                started = time.perf_counter()
                response = client.post(
                    stack.gateway_url,
                    json={"query": SUMMARY, "variables": {"code": code}},
                    headers={"authorization": f"Bearer {tokens[code]}"},
                )
                latencies.append((time.perf_counter() - started) * 1000)
                body = response.json()
                assert "errors" not in body, body
    return statistics.median(latencies), percentile(latencies, 0.99)


async def movements_to_use(url: str, per_kind: int) -> dict[str, list[asyncpg.Record]]:
    """Open movements in each status a line of the mix needs, ``per_kind`` of each, and
    patients and practices for new ones."""
    connection = await asyncpg.connect(url)
    try:
        found: dict[str, list[asyncpg.Record]] = {}
        for _, _, status in MIX:
            if status is None:
                continue
            found[status] = list(
                await connection.fetch(
                    "SELECT movement_number, nhs_number FROM movement WHERE status = $1 "
                    "AND (status <> 'requested' OR deducted_on IS NOT NULL AND "
                    "label_number IS NULL) "
                    # The data set's day runs to noon: a line now must come after each step.
                    "AND greatest(requested_at, status_changed_at, "
                    "coalesce(collected_at, requested_at), coalesce(ready_at, requested_at)) "
                    "< now() - interval '10 minutes' ORDER BY id DESC LIMIT $2",
                    status,
                    per_kind,
                )
            )
        # Patients whose record is at a practice, moving on to another.
        found["new"] = list(
            await connection.fetch(
                "SELECT m.nhs_number, m.receiver_ods_code AS sender, "
                "(SELECT d.ods_code FROM practice_directory d "
                "  WHERE d.ods_code <> m.receiver_ods_code "
                "  ORDER BY d.ods_code OFFSET m.id % (SELECT count(*) - 1 FROM practice_directory) "
                "  LIMIT 1) AS receiver "
                "FROM movement m WHERE m.status = 'in_storage_at_practice' "
                "ORDER BY m.id DESC LIMIT $1",
                per_kind,
            )
        )
        return found
    finally:
        await connection.close()


def make_lines(
    pool: dict[str, list[asyncpg.Record]], count: int, *, skip: int, tag: str
) -> list[dict[str, str]]:
    """``count`` lines in the mix's shares, from the pool's movements after the first
    ``skip`` of each kind (so two batches touch different movements)."""
    now = datetime.now(UTC) - timedelta(minutes=2)
    stamp = now.isoformat()
    today = dates.today().isoformat()
    lines: list[dict[str, str]] = []
    for kind, share, status in MIX:
        n = round(count * share)
        rows = pool["new" if status is None else status][skip : skip + n]
        assert len(rows) == n, f"only {len(rows)} movements for {kind} lines"
        for i, row in enumerate(rows):
            if kind == "opened":
                lines.append({
                    "type": "opened", "movement_number": f"B{tag}{i:08d}", "at": stamp,
                    "nhs_number": row["nhs_number"], "sending_place": "practice",
                    "sending_ods_code": row["sender"], "receiving_place": "practice",
                    "receiving_ods_code": row["receiver"], "reason": "registration_elsewhere",
                    "urgency": "routine", "deducted_on": today,
                })  # fmt: skip
            elif kind == "label":
                lines.append({"type": "label", "movement_number": row["movement_number"],
                              "at": stamp, "label_number": f"PCS{tag}{i:08d}"})  # fmt: skip
            elif kind == "status":
                lines.append({"type": "status", "movement_number": row["movement_number"],
                              "at": stamp, "status": "ready_for_collection"})  # fmt: skip
            else:
                lines.append({"type": kind, "movement_number": row["movement_number"],
                              "at": stamp, "scan_id": f"{tag}-{kind[0]}-{i}"})  # fmt: skip
    return lines


def as_csv(lines: list[dict[str, str]]) -> str:
    out = [",".join(feed.COLUMNS)]
    out += [",".join(line.get(column, "") for column in feed.COLUMNS) for line in lines]
    return "\n".join(out) + "\n"


async def apply_feed(url: str, lines: list[dict[str, str]]) -> tuple[float, feed.FeedResult]:
    engine = create_engine(url, application_name="bench-feed")
    try:
        started = time.perf_counter()
        result = await feed.import_feed(
            create_sessionmaker(engine),
            OPERATOR,
            feed_id=f"BENCH-{int(time.time())}",
            csv_text=as_csv(lines),
            targets=timer_targets(),
            today=dates.today(),
        )
        return time.perf_counter() - started, result
    finally:
        await engine.dispose()


MUTATIONS = {
    "opened": "mutation ($i: RequestMovementInput!) { requestRecordMovement(input: $i) "
    "{ movementNumber } }",
    "label": "mutation ($i: UpdateMovementInput!) { updateRecordMovement(input: $i) "
    "{ movementNumber } }",
    "status": "mutation ($i: UpdateMovementInput!) { updateRecordMovement(input: $i) "
    "{ movementNumber } }",
    "collection": "mutation ($i: CourierScanInput!) { recordCourierScan(input: $i) "
    "{ movementNumber } }",
    "delivery": "mutation ($i: CourierScanInput!) { recordCourierScan(input: $i) "
    "{ movementNumber } }",
}


def mutation_input(line: dict[str, str], index: int) -> dict[str, Any]:
    key = f"bench-loop-{index:08d}"
    kind = line["type"]
    if kind == "opened":
        return {
            "nhsNumber": line["nhs_number"],
            "sending": {"place": "PRACTICE", "odsCode": line["sending_ods_code"]},
            "receiving": {"place": "PRACTICE", "odsCode": line["receiving_ods_code"]},
            "reason": "REGISTRATION_ELSEWHERE", "urgency": "ROUTINE",
            "deductedOn": line["deducted_on"], "idempotencyKey": key,
        }  # fmt: skip
    if kind == "label":
        return {"movementNumber": line["movement_number"], "labelNumber": line["label_number"],
                "idempotencyKey": key}  # fmt: skip
    if kind == "status":
        return {"movementNumber": line["movement_number"], "status": "READY_FOR_COLLECTION",
                "idempotencyKey": key}  # fmt: skip
    return {"scanId": line["scan_id"], "movementNumber": line["movement_number"],
            "kind": kind.upper(), "scannedAt": line["at"]}  # fmt: skip


def apply_loop(stack: Stack, lines: list[dict[str, str]]) -> float:
    """Each line as its mutation, to the records subgraph, one after another."""
    token = stack.token("operator", ["records"], subject="bench-loop")
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        for index, line in enumerate(lines):
            response = client.post(
                stack.service_url("records"),
                json={"query": MUTATIONS[line["type"]],
                      "variables": {"i": mutation_input(line, index)}},
                headers={"authorization": f"Bearer {token}"},
            )  # fmt: skip
            body = response.json()
            assert "errors" not in body, body
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_nation_arguments(parser)
    parser.add_argument("--lines", type=int, default=25_000, help="lines in the feed")
    parser.add_argument("--loop-lines", type=int, default=1_000, help="lines sent one by one")
    parser.add_argument("--rounds", type=int, default=2, help="summary requests per LMC")
    args = parser.parse_args()
    nation = build(SIZES[args.size], seed=args.seed, as_of=dates.today())
    print(
        f"{args.size} data set, seed {args.seed}: {len(nation.practices):,} practices, "
        f"{len(nation.lmcs)} LMCs; load average at the start {load_average()} "
        f"on {os.cpu_count()} cores"
    )
    with national_stack(
        nation,
        workers=args.workers,
        fresh=args.fresh,
        extra_env={"GATEWAY_RATE_LIMIT": "0"},
        prefix="pcse-bench-feed-",
    ) as loaded:
        print("\n".join(loaded.report.lines()))
        run(loaded.stack, [lmc.code for lmc in nation.lmcs], args)


def run(stack: Stack, lmcs: list[str], args: argparse.Namespace) -> None:
    p50, p99 = summary_p50(stack, lmcs, args.rounds)
    print(
        f"LMC records summary (trends included), each of {len(lmcs)} LMCs x {args.rounds}, "
        f"concurrency 1, through the gateway: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    url = stack.database_urls["records"].replace("+asyncpg", "")
    per_kind = round(max(args.lines, args.loop_lines) * 0.2) * 2 + 10
    pool = asyncio.run(movements_to_use(url, per_kind))
    bulk = make_lines(pool, args.lines, skip=0, tag="F")
    looped = make_lines(pool, args.loop_lines, skip=round(args.lines * 0.2) + 5, tag="L")
    feed_seconds, result = asyncio.run(apply_feed(stack.database_urls["records"], bulk))
    loop_seconds = apply_loop(stack, looped)
    feed_rate, loop_rate = len(bulk) / feed_seconds, len(looped) / loop_seconds
    print(
        f"feed by COPY:        {len(bulk):>7,} lines in {feed_seconds:6.1f} s = "
        f"{feed_rate:8.0f} lines/s ({result.movements_opened:,} opened, "
        f"{result.movements_changed:,} changed, {result.scans:,} scans, "
        f"{result.incidents:,} incidents)"
    )
    print(
        f"per-row mutations:   {len(looped):>7,} lines in {loop_seconds:6.1f} s = "
        f"{loop_rate:8.0f} lines/s (to the records subgraph, one after another)"
    )
    print(f"ratio: the feed applies {feed_rate / loop_rate:.1f} times as many lines a second")
    p50, p99 = summary_p50(stack, lmcs, args.rounds)
    print(f"LMC records summary after the feed: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
