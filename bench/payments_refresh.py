"""The daily detection refresh, timed at two or more sizes of the national data set, side by side.

    .venv/bin/python -m bench.payments_refresh [--sizes 160,320,640]

For each size, makes the synthetic nation (``bench.national``), loads its payments part (the
directory, five years of statements, the faults planted) into a fresh database on an embedded
PostgreSQL of its own, and then runs the refresh as the service runs it
(``refresh_anomalies`` over every practice with a statement, one transaction), timed, with this
process's CPU seconds. Prints, for each size, the practices, their lines, the seconds and CPU
seconds per practice and per 100,000 lines, and the ratios between sizes (linear: the time per
practice stays flat as practices grow); then the national refresh extrapolated from the time per
practice of the largest size (6,500 practices; target under 5 minutes). Stops the server it
started, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from payments.detection.service import refresh_anomalies
from pcse_kit import dates
from pcse_kit.auth import Principal, Role
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.postgres import EmbeddedPostgres
from sqlalchemy import text

from bench.measure import cpu_seconds, load_average
from bench.national import SEED, SIZES, Size, build
from bench.national.load import load, migrated

NATIONAL_PRACTICES = 6_500
TARGET_SECONDS = 300.0
OPERATOR = Principal(subject="bench-refresh", role=Role.OPERATOR, scope=frozenset({"payments"}))


@dataclass(frozen=True)
class Measured:
    size: str
    practices: int
    lines: int
    seconds: float
    cpu: float
    server_cpu: float
    opened: int
    open: int


async def refresh(url: str, *, today: object) -> tuple[float, float, float, int, int]:
    """The refresh, timed: wall seconds, this process's CPU seconds, the server's CPU seconds
    (the one backend the refresh ran on: a pool of one), anomalies opened and open."""
    engine = create_engine(url, application_name="bench-refresh", pool_size=1, max_overflow=0)
    try:
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            pid = int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)
        server = cpu_seconds(pid)  # the local PostgreSQL backend's
        started, cpu = time.perf_counter(), time.process_time()
        result = await refresh_anomalies(sessions, OPERATOR, ods_codes=None, today=today)  # type: ignore[arg-type]
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return seconds, cpu, cpu_seconds(pid) - server, result.opened, result.open
    finally:
        await engine.dispose()


def size_named(name: str) -> Size:
    """A size of ``bench.national`` by name, or a number of practices shaped as the nation is
    (five years of statements, about 65 practices an LMC): sizes that differ only in the
    number of practices show whether the time is linear in them."""
    if name in SIZES:
        return SIZES[name]
    practices = int(name)
    national = SIZES["national"]
    return Size(
        name=name,
        practices=practices,
        icbs=max(1, min(national.icbs, practices // 15)),
        lmcs=max(1, practices // 65),
        months=national.months,
        movements=practices * 920,
        performers_per_practice=national.performers_per_practice,
    )


def measure(size_name: str) -> Measured:
    nation = build(size_named(size_name), seed=SEED, as_of=dates.today())
    with (
        tempfile.TemporaryDirectory(prefix="pcse-refresh-") as tmp,
        EmbeddedPostgres(Path(tmp) / "postgres", durable=False) as server,
    ):
        urls = asyncio.run(migrated(server))
        asyncio.run(load(urls, nation, parts=frozenset({"payments"})))

        async def counts() -> tuple[int, int]:
            connection = await asyncpg.connect(urls["payments"].replace("+asyncpg", ""))
            try:
                practices = await connection.fetchval(
                    "SELECT count(DISTINCT ods_code) FROM statement"
                )
                lines = await connection.fetchval("SELECT count(*) FROM statement_line")
                return int(practices), int(lines)
            finally:
                await connection.close()

        practices, lines = asyncio.run(counts())
        seconds, cpu, server_cpu, opened, still_open = asyncio.run(
            refresh(urls["payments"], today=nation.as_of)
        )
    return Measured(size_name, practices, lines, seconds, cpu, server_cpu, opened, still_open)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default="160,320,640",
        help="comma-separated: small, tenth, national, or a number of practices",
    )
    args = parser.parse_args()
    os.environ.setdefault("PAYMENTS_AUTH_JWKS_URL", "http://unused.invalid")
    results = [measure(name) for name in args.sizes.split(",")]
    print("daily detection refresh, every practice with a statement, one transaction")
    print(
        f"  {'size':8s}{'practices':>10s}{'lines':>12s}{'seconds':>9s}{'CPU s':>8s}"
        f"{'server CPU s':>14s}"
        f"{'ms/practice':>13s}{'CPU ms/practice':>17s}{'s/100k lines':>14s}{'anomalies':>11s}"
    )
    for m in results:
        print(
            f"  {m.size:8s}{m.practices:>10,}{m.lines:>12,}{m.seconds:>9.2f}{m.cpu:>8.2f}"
            f"{m.server_cpu:>14.2f}"
            f"{1000 * m.seconds / m.practices:>13.2f}{1000 * m.cpu / m.practices:>17.2f}"
            f"{1e5 * m.seconds / m.lines:>14.2f}{m.open:>11,}"
        )
    base = results[0]
    for m in results[1:]:
        print(
            f"  {m.size} against {base.size}: {m.practices / base.practices:.1f}x the practices,"
            f" {m.lines / base.lines:.1f}x the lines, {m.seconds / base.seconds:.1f}x the time,"
            f" {m.cpu / base.cpu:.1f}x the CPU, {m.server_cpu / base.server_cpu:.1f}x the server's"
            f" CPU (time per practice"
            f" {(m.seconds / m.practices) / (base.seconds / base.practices):.2f}x)"
        )
    largest = results[-1]
    national = NATIONAL_PRACTICES * largest.seconds / largest.practices
    busy = NATIONAL_PRACTICES * (largest.cpu + largest.server_cpu) / largest.practices
    print(
        f"  6,500 practices at {largest.size}'s CPU per practice (this process and the server):"
        f" about {busy:.0f} CPU seconds; on a machine that gives the refresh its cores, that"
        " is the bound on its time"
    )
    print(
        f"  6,500 practices at {largest.size}'s time per practice: about {national:.0f} s"
        f" (target under {TARGET_SECONDS:.0f} s:"
        f" {'met' if national < TARGET_SECONDS else 'missed'};"
        " extrapolated, the national refresh itself is timed with the national data set)"
    )
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
