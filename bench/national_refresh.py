"""The payments service's daily detection refresh over every practice of the national data set,
and over a tenth of them, side by side: is it under five minutes, and linear in practices?

Starts a stack over a copy of the loaded nation (``bench.national.cache``: loaded once and
kept, so a ``make bench`` that runs the other national benchmarks loads it once). Then it runs
the service's own refresh (``payments.detection.service.refresh_anomalies``, the function
behind ``python -m payments refresh-anomalies``) as the service's database role:

- over every practice with a statement (``ods_codes=None``, exactly what the daily timer runs);
- over every tenth of those practices (spread over the directory, not its first tenth).

Each run is made from the same loaded state: the refresh runs inside a transaction that is
rolled back after it (its own commit becomes a savepoint's release), so the second run does not
find the first run's anomalies already opened. The two alternate for ``--rounds`` rounds (a
tenth first). It prints each run's seconds, the milliseconds per practice, the ratio of the
two per-practice costs (1.0 is linear) and the whole refresh against its target (five
minutes), with the load average. It asserts nothing about speed.

    .venv/bin/python -m bench.national_refresh [--size national] [--rounds 1] [--fraction 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import TYPE_CHECKING

from payments.detection import service as detection_service
from payments.statements import repository as statements_repository
from pcse_kit import dates
from pcse_kit.auth import Principal, Role
from pcse_kit.db import create_engine, create_sessionmaker
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench.measure import load_average
from bench.national import SIZES, build
from bench.national.cache import add_nation_arguments, national_stack

if TYPE_CHECKING:
    from datetime import date

TARGET_SECONDS = 300
OPERATOR = Principal(subject="bench-refresh", role=Role.OPERATOR, scope=frozenset({"payments"}))


async def practices(url: str) -> list[str]:
    engine = create_engine(url, application_name="bench-refresh", pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            return await statements_repository.practices_with_statements(session)
    finally:
        await engine.dispose()


async def refresh(url: str, codes: list[str] | None, *, today: date) -> tuple[float, str]:
    """Seconds for one refresh of ``codes`` (None: every practice), rolled back afterwards."""
    engine = create_engine(url, application_name="bench-refresh", pool_size=1)
    try:
        async with engine.connect() as connection:
            outer = await connection.begin()
            sessions = async_sessionmaker(
                bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            started = time.perf_counter()
            result = await detection_service.refresh_anomalies(
                sessions,
                OPERATOR,
                ods_codes=codes,
                today=today,
            )
            seconds = time.perf_counter() - started
            await outer.rollback()
    finally:
        await engine.dispose()
    return seconds, f"{result.opened:,} opened, {result.resolved:,} resolved, {result.open:,} open"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_nation_arguments(parser)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each, alternated")
    parser.add_argument("--fraction", type=int, default=10, help="the part run: 1 in N")
    args = parser.parse_args()
    nation = build(SIZES[args.size], seed=args.seed, as_of=dates.today())
    print(
        f"{args.size} data set, seed {args.seed}: {len(nation.practices):,} practices, "
        f"{nation.size.months} months of statements; load average at the start {load_average()} "
        f"on {os.cpu_count()} cores"
    )
    with national_stack(
        nation, workers=args.workers, fresh=args.fresh, writes=False, prefix="pcse-bench-refresh-"
    ) as loaded:
        url = loaded.stack.database_urls["payments"]
        everyone = asyncio.run(practices(url))
        part = everyone[:: args.fraction]
        runs: dict[str, list[float]] = {"part": [], "all": []}
        print(
            f"daily detection refresh (payments' refresh_anomalies, as the service's role), "
            f"1 in {args.fraction} ({len(part):,} practices) against all ({len(everyone):,}), "
            f"alternated, {args.rounds} round(s), each rolled back:"
        )
        for _ in range(args.rounds):
            for name, codes in (("part", part), ("all", None)):
                seconds, outcome = asyncio.run(refresh(url, codes, today=nation.as_of))
                runs[name].append(seconds)
                count = len(part) if codes is not None else len(everyone)
                print(
                    f"  {count:>6,} practices: {seconds:8.1f} s = "
                    f"{seconds * 1000 / count:6.1f} ms a practice ({outcome}); load "
                    f"average {load_average()}",
                    flush=True,
                )
        part_s, all_s = statistics.median(runs["part"]), statistics.median(runs["all"])
        per_part, per_all = part_s * 1000 / len(part), all_s * 1000 / len(everyone)
        print(
            f"  per practice: all {per_all:.1f} ms against 1 in {args.fraction} "
            f"{per_part:.1f} ms: ratio {per_all / per_part:.2f} (1.00 is linear in practices)"
        )
        verdict = "met" if all_s < TARGET_SECONDS else f"MISSED by {all_s - TARGET_SECONDS:.0f} s"
        print(
            f"  whole refresh, {len(everyone):,} practices: {all_s:.1f} s; target < "
            f"{TARGET_SECONDS} s: {verdict}"
            + ("" if args.size == "national" else f" (on the {args.size} size, not national)")
        )


if __name__ == "__main__":
    main()
