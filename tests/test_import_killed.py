"""A payment run import killed with SIGKILL mid-load leaves nothing half-written; a re-run
imports the whole run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import asyncpg
from payments.models import Component, Paycode, PaycodeSign
from pcse_kit.db import create_engine, create_sessionmaker
from sqlalchemy import select

from bench.payments_import import count_lines, generate, practice_codes, prepare
from stack import ROOT

if TYPE_CHECKING:
    from pathlib import Path

    from pcse_kit.postgres import EmbeddedPostgres

LINES = 120_000
PRACTICES = 500
DATABASE = "import_killed"


async def paycodes(url: str) -> list[tuple[str, Component, bool]]:
    """Each paycode with whether its lines are debits (a deduction, or a paycode that carries
    only debits), so the run's signs are ones the importer accepts."""
    engine = create_engine(url, application_name="test")
    try:
        async with create_sessionmaker(engine)() as session:
            return [
                (p.code, p.component, p.component.is_deduction or p.sign is PaycodeSign.DEBIT)
                for p in await session.scalars(select(Paycode))
            ]
    finally:
        await engine.dispose()


async def loading(url: str) -> bool:
    """Whether a COPY into the lines table is running now."""
    connection = await asyncpg.connect(url)
    try:
        running: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query ILIKE 'COPY%' AND state = 'active'"
        )
    finally:
        await connection.close()
    return running > 0


def import_run(url: str, path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PAYMENTS_DATABASE_URL": url,
        # The command checks no token, but the settings require a key source.
        "PAYMENTS_AUTH_JWKS_URL": "http://127.0.0.1:9/unused",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "payments", "import-run", str(path), "--run-id", "KILLED-1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_an_import_killed_mid_copy_writes_nothing_and_a_rerun_completes(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    postgres.create_database(DATABASE)
    url = postgres.dsn(DATABASE)
    codes = practice_codes(PRACTICES)
    asyncio.run(prepare(url, codes))
    run = tmp_path / "run.csv"
    run.write_text(generate(codes, LINES, asyncio.run(paycodes(url))))

    process = import_run(url, run)
    # Parsing and checking 120,000 rows comes before the COPY: minutes on a loaded machine.
    deadline = time.monotonic() + 300
    while not asyncio.run(loading(url)):
        assert process.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline, "the import never started loading"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert asyncio.run(count_lines_or_zero(url)) == 0

    rerun = import_run(url, run)
    output, _ = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, output.decode()
    assert asyncio.run(count_lines(url))[0] == LINES


async def count_lines_or_zero(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        # The killed session's transaction is rolled back when its connection drops.
        for _ in range(100):
            busy: int = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if busy == 0:
                break
            await asyncio.sleep(0.05)
        lines: int = await connection.fetchval("SELECT count(*) FROM statement_line")
        runs: int = await connection.fetchval("SELECT count(*) FROM payment_run")
    finally:
        await connection.close()
    return lines + runs
