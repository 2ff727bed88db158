"""A 300,000-line payment run from file to commit, stage by stage, against an ORM insert.

    .venv/bin/python -m bench.payments_import [--lines 300000] [--practices 6000]

Starts its own embedded PostgreSQL in a temporary directory (loopback, a free port), migrates
three fresh databases, writes one run in the documented CSV format to a file, and imports it
into each, each stage timed: read the file, parse and validate every row (``ingest.parse``),
write the run's statements and its lines, publish each statement (one insert into the outbox),
detect again the anomalies of every practice the run touched, and commit; the whole is the
file's lines over the time from opening the file to the commit. The three imports:

- as the service does (``load_run`` with ``detect_on``): a batch of practices at a time, its
  lines COPYed while the batch is detected from the lines in memory. The COPY and detection
  overlap: each one's own time is printed (marked), and the whole is the wall time;
- COPY, then detect: the lines by one COPY, then ``sync_anomalies`` reading them back, one
  stage after the other (the write stage alone, for the ratio below);
- ORM insert: the same validated lines by ORM objects (``session.add_all`` and a flush), then
  detected.

Each import starts after a checkpoint, so none pays for writing out the one before. Prints
lines per second for each stage, the ratios (COPY against the ORM insert for writing the
lines, and for the whole), checks that the three loaded the same lines and found the same
anomalies, and prints the load average; stops the server it started, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import io
import os
import random
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from payments.bulk import collector_paused
from payments.detection.service import sync_anomalies
from payments.models import Component, Paycode, PaycodeSign, PaymentRun, StatementLine
from payments.schedule import facts
from payments.settings import SERVICE_DIR
from payments.statements import repository as statements_repository
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
    """Writing the lines: for the pipelined import, each COPY's time from its start to its
    end, summed (detection runs in its turns)."""
    publish: float = 0.0
    detect: float = 0.0
    """For the pipelined import, the rules' own time (run while the COPY and the next batch's
    reads are under way; the reads and the anomalies' writes are in ``overlapped``)."""
    commit: float = 0.0
    overlapped: float | None = None
    """For the pipelined import, the wall time from the run's first write to its last: the
    statements, the publishing, the COPY and the detection together."""
    cpu: dict[str, float] = field(default_factory=dict)
    """This process's CPU seconds in each stage: on a shared machine, steadier than the wall
    time (the server's share of a stage is the wall time less this, and the waiting)."""

    @property
    def whole(self) -> float:
        middle = (
            self.load + self.publish + self.detect if self.overlapped is None else self.overlapped
        )
        return self.read + self.parse + middle + self.commit

    @property
    def parse_cpu(self) -> float:
        return self.cpu["parse"]

    @property
    def whole_cpu(self) -> float:
        return sum(self.cpu.values())


class _Timed:
    """Wall and CPU seconds spent inside some of the service's functions, summed over calls,
    while an import runs: how each stage's own time is told apart when stages overlap."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, name: str, stage: str) -> None:
        original = getattr(owner, name)

        if inspect.iscoroutinefunction(original):

            async def timed_async(*args: object, **kwargs: object) -> object:
                started, cpu = time.perf_counter(), time.process_time()
                try:
                    return await original(*args, **kwargs)
                finally:
                    self.wall[stage] += time.perf_counter() - started
                    self.cpu[stage] += time.process_time() - cpu

            setattr(owner, name, timed_async)
        else:

            def timed(*args: object, **kwargs: object) -> object:
                started, cpu = time.perf_counter(), time.process_time()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.wall[stage] += time.perf_counter() - started
                    self.cpu[stage] += time.process_time() - cpu

            setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()


async def import_file(
    url: str, path: Path, *, paycodes: dict[str, Paycode], known: set[str], mode: str
) -> Stages:
    """:func:`_import_file` with the collector paused from reading the file to the commit, as
    the service's ``import_run`` pauses it (the same for each of the three imports)."""
    with collector_paused():
        return await _import_file(url, path, paycodes=paycodes, known=known, mode=mode)


async def _import_file(
    url: str, path: Path, *, paycodes: dict[str, Paycode], known: set[str], mode: str
) -> Stages:
    """The file imported, each stage timed. ``pipelined``: as the service imports a run (the
    lines written a batch of practices at a time while the batch is detected from memory);
    ``sequential``: the lines by one COPY, then detected, reading them back (the write stage
    on its own, and the import as it was); ``orm``: the lines by ORM objects, then published
    and detected in turn."""
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
            if mode == "orm":
                await _orm_stages(session, parsed, stages)
            else:
                await _service_stages(session, parsed, stages, detect=mode == "pipelined")
            if mode == "sequential":
                started, cpu = time.perf_counter(), time.process_time()
                await sync_anomalies(session, sorted(known & {c for c, _ in parsed.statements}),
                                     today=TODAY)  # fmt: skip
                stages.detect = time.perf_counter() - started
                stages.cpu["detect"] = time.process_time() - cpu
            started, cpu = time.perf_counter(), time.process_time()
            await session.commit()
            stages.commit = time.perf_counter() - started
            stages.cpu["commit"] = time.process_time() - cpu
        finally:
            await session.close()
        return stages
    finally:
        await engine.dispose()


async def _service_stages(
    session: AsyncSession, parsed: ParsedRun, stages: Stages, *, detect: bool
) -> None:
    timed = _Timed()
    timed.wrap(statements_repository, "copy_lines", "load")
    timed.wrap(service, "publish_statements", "publish")
    # Only the rules' own time: each batch's reads after the first run while the batch before
    # it is detected, so timing them would count that detection twice.
    timed.wrap(facts.Snapshot, "detect", "detect")
    try:
        started, cpu = time.perf_counter(), time.process_time()
        await service.load_run(
            session, run_id=RUN_ID, parsed=parsed, imported_by="bench",
            detect_on=TODAY if detect else None,
        )  # fmt: skip
        wall, whole_cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        timed.restore()
    stages.load, stages.publish = timed.wall["load"], timed.wall["publish"]
    stages.cpu["load"], stages.cpu["publish"] = timed.cpu["load"], timed.cpu["publish"]
    if not detect:
        # The statements and the run's row belong to the write, as in the ORM's.
        stages.load = wall - stages.publish
        stages.cpu["load"] = whole_cpu - stages.cpu["publish"]
        return
    # Detection's own time: its rules (run between the COPY's turns, so the COPY's time in
    # flight includes them). This process's CPU in the COPY, and in the reads, is the rest.
    stages.overlapped = wall
    stages.detect = timed.wall["detect"]
    stages.cpu["detect"] = timed.cpu["detect"]
    stages.cpu["load"] = whole_cpu - stages.cpu["detect"] - stages.cpu["publish"]


async def _orm_stages(session: AsyncSession, parsed: ParsedRun, stages: Stages) -> None:
    """The same lines as ORM objects (statements, the run, every line added and flushed),
    published and detected in turn: what the import was before COPY."""
    started, cpu = time.perf_counter(), time.process_time()
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
    load, load_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    await service.publish_statements(session, run_id=RUN_ID, parsed=parsed, ids=ids)
    stages.publish = time.perf_counter() - started
    stages.cpu["publish"] = time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
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
    stages.load = load + time.perf_counter() - started
    stages.cpu["load"] = load_cpu + time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    codes = sorted({line.ods_code for line in parsed.lines})
    await sync_anomalies(session, codes, today=TODAY)
    stages.detect = time.perf_counter() - started
    stages.cpu["detect"] = time.process_time() - cpu


async def count_lines(url: str) -> tuple[int, int]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow("SELECT count(*), sum(amount_pence) FROM statement_line")
        assert row is not None
        return int(row[0]), int(row[1])
    finally:
        await connection.close()


MODES = {
    "pipelined": "pipelined (the service)",
    "sequential": "COPY, then detect",
    "orm": "ORM insert",
}


async def run(server: EmbeddedPostgres, directory: Path, lines: int, practices: int) -> None:
    codes = practice_codes(practices)
    for mode in MODES:
        server.create_database(f"bench_{mode}")
        await prepare(server.dsn(f"bench_{mode}"), codes)
    engine = create_engine(server.dsn("bench_pipelined"), application_name="bench")
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
    stages: dict[str, Stages] = {}
    for mode in MODES:
        # Each import starts with nothing of the one before waiting to be written out.
        await checkpoint(server.dsn(f"bench_{mode}"))
        stages[mode] = await import_file(
            server.dsn(f"bench_{mode}"), path, paycodes=by_code, known=known, mode=mode
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
    loaded = {mode: await count_lines(server.dsn(f"bench_{mode}")) for mode in MODES}
    found = {mode: await anomalies(server.dsn(f"bench_{mode}")) for mode in MODES}
    if len(set(loaded.values())) != 1 or loaded["orm"][0] != lines:
        raise SystemExit(f"the imports differ: {loaded}")
    if len(set(found.values())) != 1:
        raise SystemExit(f"the imports found different anomalies: {found}")

    megabytes = len(text.encode()) / 1e6
    print(f"payment run: {lines:,} lines, {practices:,} practices, {megabytes:.1f} MB of CSV")
    print(f"  {'stage':34s}" + "".join(f"{MODES[m]:>26s}{'(CPU here)':>11s}" for m in MODES))
    pipelined, sequential, orm = (stages[m] for m in MODES)
    rows: list[tuple[str, str | None]] = [
        ("read the file", "read"),
        ("parse + validate every row", "parse"),
        ("write the lines *", "load"),
        ("publish each statement", "publish"),
        ("detect again (every practice) *", "detect"),
        ("commit", "commit"),
        ("whole: file to commit", None),
    ]
    for label, key in rows:
        cells = []
        for mode in MODES:
            st = stages[mode]
            wall = st.whole if key is None else getattr(st, key)
            cpu = st.whole_cpu if key is None else st.cpu[key]
            cells.append(f"{wall:10.2f} s {lines / wall:>12,.0f}/s{cpu:9.2f} s")
        print(f"  {label:34s}" + "".join(cells))
    print(
        f"  * the pipelined import writes and detects at once, a batch of practices at a time:"
        f" those two rows are each stage's own time (detection's is its rules'; the writing's"
        f" CPU includes the reads of each batch's facts), and they overlap; from the run's first"
        f" write to its last (statements, publishing, COPY and detection) took"
        f" {pipelined.overlapped or 0:.2f} s against"
        f" {sequential.load + sequential.publish + sequential.detect:.2f} s one after another"
    )
    print(
        f"  parse CPU: {pipelined.parse_cpu:.2f} s ({lines / pipelined.parse_cpu:,.0f} lines per"
        f" CPU second); every row through the full check {full_cpu / 2:.2f} s against"
        f" {quick_cpu / 2:.2f} s ({full_cpu / quick_cpu:.2f}x)"
    )
    whole_rate = lines / pipelined.whole
    verdict = "met" if whole_rate >= TARGET_LINES_PER_SECOND else "missed"
    print(
        f"  file to commit: {whole_rate:,.0f} lines/s (target {TARGET_LINES_PER_SECOND:,}:"
        f" {verdict}); {sequential.whole / pipelined.whole:.2f}x the COPY-then-detect import"
    )
    ratio = orm.load / sequential.load
    print(
        f"  COPY writes the lines {ratio:.1f}x as fast as the ORM insert (target"
        f" {TARGET_RATIO:g}x: {'met' if ratio >= TARGET_RATIO else 'missed'});"
        f" the whole import {orm.whole / pipelined.whole:.1f}x; in this process's CPU, writing"
        f" the lines {orm.cpu['load'] / sequential.cpu['load']:.1f}x"
    )
    print(
        f"  each loaded {loaded['orm'][0]:,} lines totalling {loaded['orm'][1]:,} pence and found"
        f" the same {len(found['orm']):,} open anomalies"
    )
    print(f"load average at the end: {load_average()}")


async def checkpoint(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def anomalies(url: str) -> frozenset[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT fingerprint FROM anomaly WHERE resolved_at IS NULL")
        return frozenset(row[0] for row in rows)
    finally:
        await connection.close()


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
