"""Loads a 7,000-row practice file in NHS Digital's ODS layout (``epraccur.csv``) three times:
into an empty directory, again unchanged, and again with a few closures and mergers.

    .venv/bin/python -m bench.directory_load [--rows 7000]

Starts its own embedded PostgreSQL in a temporary directory (loopback, a free port), migrates a
fresh performers database, writes the file (about 6,800 GP practices and a few hundred other
prescribing settings, as the real file has) and loads it through the service's own loader, one
transaction a load, timed from its start to its commit. Prints rows per second for each load,
what each changed, and the audit rows and outbox events each wrote: the second load of the
same file must change nothing. Stops the server it started, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pcse_kit.auth import Principal, Role
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.migrations import upgrade
from pcse_kit.postgres import EmbeddedPostgres
from performers.directory import LoadReport, load_directory
from performers.models import AuditEvent, Lmc, LmcIcb, Outbox
from performers.settings import SERVICE_DIR
from sqlalchemy import func, insert, select

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ICBS = [f"Q{chr(ord('A') + i // 10)}{i % 10}" for i in range(42)]
OPERATOR = Principal(subject="bench", role=Role.OPERATOR, scope=frozenset({"performers"}))
CHANGED_SHARE = 0.01
OTHER_SETTINGS = 0.04


def ods_file(rows: int, *, closed: frozenset[int] = frozenset()) -> str:
    """``rows`` rows in the epraccur layout; about one in 25 is not a GP practice (setting 4).
    Rows in ``closed`` are closed on 31 March 2026. Seeded: the same every run."""
    rng = random.Random(7000)
    lines = []
    for i in range(rows):
        icb = ICBS[i % len(ICBS)]
        setting = "4" if rng.random() > OTHER_SETTINGS else rng.choice("0123")
        status, close = ("C", "20260331") if i in closed else ("A", "")
        columns = [
            f"{'ABCDEFGHJKLMNPY'[i // 99_999]}{i % 99_999 + 1:05d}",
            f"PRACTICE {i} {rng.choice(('SURGERY', 'MEDICAL CENTRE', 'HEALTH CENTRE'))}",
            f"Y{56 + i % 8}", icb, f"{i % 300 + 1} HIGH STREET", "", "", "TOWN", "",
            f"AB{i % 90 + 1} {i % 9 + 1}CD", f"{1948 + i % 70}0401", close, status, "B",
            f"{icb[1:]}{i % 7}", "20220701", "", "01000 000000", "", "", "", "0", "",
            f"{icb[1:]}{i % 7}", "", setting, "",
        ]  # fmt: skip
        lines.append(",".join(columns))
    return "\n".join(lines) + "\n"


async def prepare(url: str) -> None:
    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    engine = create_engine(url, application_name="bench")
    try:
        async with create_sessionmaker(engine).begin() as session:
            await session.execute(
                insert(Lmc), [{"code": f"lmc-{icb.lower()}", "name": icb} for icb in ICBS]
            )
            await session.execute(
                insert(LmcIcb),
                [{"lmc_code": f"lmc-{icb.lower()}", "icb_code": icb} for icb in ICBS],
            )
    finally:
        await engine.dispose()


async def load(
    url: str, text: str, successors: str | None = None
) -> tuple[LoadReport, float, int, int]:
    """(report, seconds, audit rows written, events written)."""
    engine = create_engine(url, application_name="bench")
    sessions = create_sessionmaker(engine)
    try:
        before = await _counts(sessions)
        started = time.perf_counter()
        report = await load_directory(sessions, OPERATOR, epraccur=text, successors=successors)
        seconds = time.perf_counter() - started
        after = await _counts(sessions)
    finally:
        await engine.dispose()
    return report, seconds, after[0] - before[0], after[1] - before[1]


async def _counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            await session.scalar(select(func.count()).select_from(Outbox)) or 0,
        )


async def run(server: EmbeddedPostgres, rows: int) -> None:
    server.create_database("bench_directory")
    url = server.dsn("bench_directory")
    await prepare(url)
    text = ods_file(rows)
    rng = random.Random(1)
    closed = frozenset(rng.sample(range(rows), int(rows * CHANGED_SHARE)))
    later = ods_file(rows, closed=closed)
    merged = sorted(closed)[: len(closed) // 2]
    successors = "".join(
        f"{later.splitlines()[i].split(',')[0]},{later.splitlines()[(i + 1) % rows].split(',')[0]},"
        "20260401,1\n"
        for i in merged
    )
    megabytes = len(text.encode()) / 1e6
    print(f"ODS practice file (epraccur layout): {rows:,} rows, {megabytes:.1f} MB")
    print(f"{'load':34} {'seconds':>8} {'rows/s':>9} {'new':>6} {'changed':>8} "
          f"{'same':>6} {'audit rows':>11} {'events':>7}")  # fmt: skip
    for label, body, succ in (
        ("1. into an empty directory", text, None),
        ("2. the same file again", text, None),
        (f"3. {len(closed)} rows closed, {len(merged)} merged", later, successors),
    ):
        report, seconds, audits, events = await load(url, body, succ)
        print(
            f"{label:34} {seconds:8.2f} {rows / seconds:9,.0f} {report.inserted:6,} "
            f"{report.updated:8,} {report.unchanged:6,} {audits:11,} {events:7,}"
        )
    print(
        f"skipped in each load: {dict(report.skipped)} "
        "(other prescribing settings: walk-in, out-of-hours and the like)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=7_000)
    args = parser.parse_args()
    os.environ.setdefault("PERFORMERS_AUTH_JWKS_URL", "http://unused.invalid")
    directory = Path(tempfile.mkdtemp(prefix="pcse-bench-"))
    server = EmbeddedPostgres(directory / "data", durable=False)
    server.start()
    try:
        asyncio.run(run(server, args.rows))
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
