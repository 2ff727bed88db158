"""Imports one payment run of 300,000 lines twice, by COPY and by ORM insert, and compares.

    .venv/bin/python bench/payments_import.py [--lines 300000] [--practices 6000]

Starts its own embedded PostgreSQL in a temporary directory (loopback, a free port), migrates
two fresh databases, generates one run in the documented CSV format, validates it once, and
loads the same validated lines into each database: through the service's own loader (statements
upserted, lines by asyncpg COPY) and through ORM objects (``session.add_all`` and a flush).
Each load is one transaction, timed from its start to its commit. Prints lines per second for
each and the ratio; stops the server it started, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import asyncpg
from payments.models import Component, Paycode, PaycodeSign, PaymentRun, StatementLine
from payments.settings import SERVICE_DIR
from payments.statements import service
from payments.statements.ingest import COLUMNS, ParsedRun, parse
from payments.statements.repository import ensure_statements
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.migrations import upgrade
from pcse_kit.postgres import EmbeddedPostgres
from sqlalchemy import select

PERIOD = date(2026, 6, 1)
PAID_ON = date(2026, 6, 30)
RUN_ID = "BENCH-2026-06"


def practice_codes(count: int) -> list[str]:
    return [f"{chr(ord('A') + i // 99_999 % 26)}{i % 99_999 + 1:05d}" for i in range(count)]


def generate(codes: list[str], lines: int, paycodes: list[tuple[str, Component, bool]]) -> str:
    """A run in the documented format, spread evenly over the practices; seeded."""
    rng = random.Random(26)
    out = io.StringIO()
    out.write(",".join(COLUMNS) + "\n")
    blank = dict.fromkeys(COLUMNS, "")
    for i in range(lines):
        code, component, debit = paycodes[i % len(paycodes)]
        pence = rng.randint(1_00, 50_000_00)
        row = {
            **blank,
            "ods_code": codes[i % len(codes)],
            "period": PERIOD.isoformat(),
            "paycode": code,
            "component": component.value,
            "amount": f"{'-' if debit else ''}{pence // 100}.{pence % 100:02d}",
            "paid_on": PAID_ON.isoformat(),
            "authoriser": "NHS England",
            "gmc_number": f"{1_000_000 + i % 5_000:07d}" if component.is_deduction else "",
        }
        out.write(",".join(row[name] for name in COLUMNS) + "\n")
    return out.getvalue()


async def prepare(url: str, codes: list[str]) -> None:
    await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    connection = await asyncpg.connect(url)
    try:
        await connection.copy_records_to_table(
            "practice_directory",
            records=[(code, f"Practice {code}", "bench", 8_000, "active") for code in codes],
            columns=["ods_code", "name", "lmc_code", "list_size", "status"],
        )
    finally:
        await connection.close()


async def load_by_copy(url: str, parsed: ParsedRun) -> float:
    engine = create_engine(url, application_name="bench-copy")
    try:
        sessions = create_sessionmaker(engine)
        started = time.perf_counter()
        async with sessions.begin() as session:
            await service.load_run(session, run_id=RUN_ID, parsed=parsed, imported_by="bench")
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def load_by_orm(url: str, parsed: ParsedRun) -> float:
    engine = create_engine(url, application_name="bench-orm")
    try:
        sessions = create_sessionmaker(engine)
        started = time.perf_counter()
        async with sessions.begin() as session:
            statements = parsed.statements
            ids = await ensure_statements(session, statements)
            session.add(
                PaymentRun(
                    run_id=RUN_ID, imported_by="bench", line_count=len(parsed.lines),
                    statement_count=len(statements), total_pence=parsed.total_pence,
                    practice_codes=sorted({c for c, _ in statements}), digest=parsed.digest,
                )
            )  # fmt: skip
            await session.flush()
            session.add_all(
                StatementLine(
                    statement_id=ids[(line.ods_code, line.period)],
                    component=line.component,
                    paycode=line.paycode,
                    description=line.description,
                    amount_pence=line.amount_pence,
                    covers_from=line.covers_from,
                    covers_to=line.covers_to,
                    paymaster=line.paymaster,
                    source_system=line.source_system,
                    authoriser=line.authoriser,
                    status=line.status,
                    authorised_on=line.dates[0],
                    entered_on=line.dates[1],
                    paid_on=line.dates[2],
                    failed_on=line.dates[3],
                    reversed_on=line.dates[4],
                    gmc_number=line.gmc_number,
                    run_id=RUN_ID,
                )
                for line in parsed.lines
            )
            await session.flush()
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def count_lines(url: str) -> tuple[int, int]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow("SELECT count(*), sum(amount_pence) FROM statement_line")
        assert row is not None
        return int(row[0]), int(row[1])
    finally:
        await connection.close()


async def run(server: EmbeddedPostgres, lines: int, practices: int) -> None:
    codes = practice_codes(practices)
    for name in ("bench_copy", "bench_orm"):
        server.create_database(name)
        await prepare(server.dsn(name), codes)
    engine = create_engine(server.dsn("bench_copy"), application_name="bench")
    async with create_sessionmaker(engine)() as session:
        paycodes = list(await session.scalars(select(Paycode)))
    await engine.dispose()
    text = generate(
        codes,
        lines,
        [
            (p.code, p.component, p.component.is_deduction or p.sign is PaycodeSign.DEBIT)
            for p in paycodes
        ],
    )

    started = time.perf_counter()
    parsed = parse(
        text,
        paycodes={p.code: p for p in paycodes},
        known_practices=set(codes),
    )
    validated = time.perf_counter() - started
    copy_seconds = await load_by_copy(server.dsn("bench_copy"), parsed)
    orm_seconds = await load_by_orm(server.dsn("bench_orm"), parsed)

    copied, orm = (
        await count_lines(server.dsn("bench_copy")),
        await count_lines(server.dsn("bench_orm")),
    )
    if copied != orm or copied[0] != lines:
        raise SystemExit(f"the two loads differ: {copied} and {orm}")
    megabytes = len(text.encode()) / 1e6
    print(f"payment run: {lines:,} lines, {practices:,} practices, {megabytes:.1f} MB of CSV")
    for label, seconds in (
        ("parse + validate (csv module)", validated),
        ("load by COPY", copy_seconds),
        ("load by ORM insert", orm_seconds),
    ):
        print(f"{label + ':':31}{seconds:6.2f} s  {lines / seconds:>10,.0f} lines/s")
    print(
        f"COPY is {orm_seconds / copy_seconds:.1f}x the ORM insert (same {lines:,} rows, one run)"
    )
    print(f"both loaded {copied[0]:,} lines totalling {copied[1]:,} pence")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--practices", type=int, default=6_000)
    args = parser.parse_args()
    # The service's settings are not used here, but importing them must not fail.
    os.environ.setdefault("PAYMENTS_AUTH_JWKS_URL", "http://unused.invalid")
    directory = Path(tempfile.mkdtemp(prefix="pcse-bench-"))
    server = EmbeddedPostgres(directory / "data", durable=False)
    server.start()
    try:
        asyncio.run(run(server, args.lines, args.practices))
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
