"""A 300,000-line payment run from file to commit, stage by stage, against an ORM insert.

    .venv/bin/python -m bench.payments_import [--lines 300000] [--practices 6000]

Starts its own embedded PostgreSQL in a temporary directory (loopback, a free port), migrates
two fresh databases, writes one run in the documented CSV format to a file, and imports it into
the first as the service does, each stage timed: read the file, parse and validate every row
(``ingest.parse``), write the run's statements and its lines by COPY (``load_run``) and publish
each statement (``publish_statements``, one pipelined insert into the outbox), detect
again the anomalies of every practice the run touched (``sync_anomalies``), and commit; the
whole is the file's lines over the time from opening the file to the commit. The same
validated lines then go into the second database by ORM objects (``session.add_all`` and a
flush, committed), and the two loads are compared, as is the whole against the same import
with the ORM insert in place of COPY. Prints lines per second for each stage, the ratios, and
the load average; stops the server it started, whatever happens.
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
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from payments.detection.service import sync_anomalies
from payments.models import Component, Paycode, PaycodeSign, PaymentRun, StatementLine
from payments.settings import SERVICE_DIR
from payments.statements import service
from payments.statements.ingest import COLUMNS, ParsedRun, parse
from payments.statements.repository import ensure_statements
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.migrations import upgrade
from pcse_kit.postgres import EmbeddedPostgres
from sqlalchemy import select

from bench.measure import load_average

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

PERIOD = date(2026, 6, 1)
PAID_ON = date(2026, 6, 30)
TODAY = date(2026, 7, 15)
RUN_ID = "BENCH-2026-06"
TARGET_LINES_PER_SECOND = 100_000
TARGET_RATIO = 10.0


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


@dataclass
class Stages:
    read: float = 0.0
    parse: float = 0.0
    load: float = 0.0
    publish: float = 0.0
    detect: float = 0.0
    commit: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    """This process's CPU seconds in each stage: on a shared machine, steadier than the wall
    time (the server's share of a stage is the wall time less this, and the waiting)."""

    @property
    def whole(self) -> float:
        return self.read + self.parse + self.load + self.publish + self.detect + self.commit

    @property
    def parse_cpu(self) -> float:
        return self.cpu["parse"]

    @property
    def whole_cpu(self) -> float:
        return sum(self.cpu.values())


async def import_file(
    url: str, path: Path, *, paycodes: dict[str, Paycode], known: set[str], orm: bool
) -> tuple[Stages, ParsedRun]:
    """The file imported as the service imports a run, each stage timed; with ``orm`` the
    lines go in by ORM objects instead of COPY."""
    engine = create_engine(url, application_name="bench-import")
    stages = Stages()
    try:
        sessions = create_sessionmaker(engine)
        started, cpu = time.perf_counter(), time.process_time()
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        stages.read = time.perf_counter() - started
        stages.cpu["read"] = time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        parsed = parse(text, paycodes=paycodes, known_practices=known)
        stages.parse = time.perf_counter() - started
        stages.cpu["parse"] = time.process_time() - cpu
        session = sessions()
        try:
            await session.begin()
            started, cpu = time.perf_counter(), time.process_time()
            if orm:
                await load_by_orm(session, parsed)
            else:
                await service.load_run(session, run_id=RUN_ID, parsed=parsed, imported_by="bench")
            stages.load = time.perf_counter() - started
            stages.cpu["load"] = time.process_time() - cpu
            # Each statement of the run published, as the service does after writing the lines
            # (a stage of its own: the same work whichever way the lines were written).
            started, cpu = time.perf_counter(), time.process_time()
            await service.publish_statements(session, RUN_ID)
            stages.publish = time.perf_counter() - started
            stages.cpu["publish"] = time.process_time() - cpu
            started, cpu = time.perf_counter(), time.process_time()
            codes = sorted({line.ods_code for line in parsed.lines})
            await sync_anomalies(session, codes, today=TODAY)
            stages.detect = time.perf_counter() - started
            stages.cpu["detect"] = time.process_time() - cpu
            started, cpu = time.perf_counter(), time.process_time()
            await session.commit()
            stages.commit = time.perf_counter() - started
            stages.cpu["commit"] = time.process_time() - cpu
        finally:
            await session.close()
        return stages, parsed
    finally:
        await engine.dispose()


async def load_by_orm(session: AsyncSession, parsed: ParsedRun) -> None:
    """The same lines as ORM objects: statements, the run, every line added and flushed."""
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
            remittance_ref=line.remittance_ref,
        )
        for line in parsed.lines
    )
    await session.flush()


async def count_lines(url: str) -> tuple[int, int]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow("SELECT count(*), sum(amount_pence) FROM statement_line")
        assert row is not None
        return int(row[0]), int(row[1])
    finally:
        await connection.close()


async def run(server: EmbeddedPostgres, directory: Path, lines: int, practices: int) -> None:
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
    path = directory / "run.csv"
    path.write_text(text, encoding="utf-8")
    by_code = {p.code: p for p in paycodes}
    known = set(codes)
    copy, _ = await import_file(
        server.dsn("bench_copy"), path, paycodes=by_code, known=known, orm=False
    )
    orm, _ = await import_file(
        server.dsn("bench_orm"), path, paycodes=by_code, known=known, orm=True
    )
    # The parse again with every row through the full check, and once more the quick way, in
    # turn: what checking a row by its own cells alone saves, side by side.
    full_cpu = quick_cpu = 0.0
    for _ in range(2):
        cpu = time.process_time()
        parse(text, paycodes=by_code, known_practices=known, quick=False)
        full_cpu += time.process_time() - cpu
        cpu = time.process_time()
        parse(text, paycodes=by_code, known_practices=known)
        quick_cpu += time.process_time() - cpu
    copied, inserted = (
        await count_lines(server.dsn("bench_copy")),
        await count_lines(server.dsn("bench_orm")),
    )
    if copied != inserted or copied[0] != lines:
        raise SystemExit(f"the two imports differ: {copied} and {inserted}")

    megabytes = len(text.encode()) / 1e6
    print(f"payment run: {lines:,} lines, {practices:,} practices, {megabytes:.1f} MB of CSV")
    print(f"  {'stage':34s}{'COPY':>16s}{'(CPU here)':>12s}{'ORM insert':>22s}{'(CPU here)':>12s}")
    for label, key, a, b in (
        ("read the file", "read", copy.read, orm.read),
        ("parse + validate every row", "parse", copy.parse, orm.parse),
        ("write the lines", "load", copy.load, orm.load),
        ("publish each statement", "publish", copy.publish, orm.publish),
        ("detect again (every practice)", "detect", copy.detect, orm.detect),
        ("commit", "commit", copy.commit, orm.commit),
        ("whole: file to commit", None, copy.whole, orm.whole),
    ):
        a_cpu = copy.whole_cpu if key is None else copy.cpu[key]
        b_cpu = orm.whole_cpu if key is None else orm.cpu[key]
        print(
            f"  {label:34s}{a:7.2f} s {lines / a:>9,.0f}/s{a_cpu:10.2f} s"
            f"{b:9.2f} s {lines / b:>11,.0f}/s{b_cpu:10.2f} s"
        )
    print(
        f"  parse CPU: {copy.parse_cpu:.2f} s ({lines / copy.parse_cpu:,.0f} lines per CPU second);"
        f" every row through the full check {full_cpu / 2:.2f} s against {quick_cpu / 2:.2f} s"
        f" ({full_cpu / quick_cpu:.2f}x)"
    )
    whole_rate = lines / copy.whole
    verdict = "met" if whole_rate >= TARGET_LINES_PER_SECOND else "missed"
    print(
        f"  file to commit: {whole_rate:,.0f} lines/s (target {TARGET_LINES_PER_SECOND:,}:"
        f" {verdict})"
    )
    ratio = orm.load / copy.load
    print(
        f"  COPY writes the lines {ratio:.1f}x as fast as the ORM insert (target"
        f" {TARGET_RATIO:g}x: {'met' if ratio >= TARGET_RATIO else 'missed'});"
        f" the whole import {orm.whole / copy.whole:.1f}x; in this process's CPU, writing the"
        f" lines {orm.cpu['load'] / copy.cpu['load']:.1f}x"
    )
    print(f"  both loaded {copied[0]:,} lines totalling {copied[1]:,} pence")
    print(f"load average at the end: {load_average()}")


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
        asyncio.run(run(server, directory, args.lines, args.practices))
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
