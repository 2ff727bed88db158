"""The nation into the three services' migrated databases, timed part by part."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
from payments.detection import service as payments_service
from pcse_kit.auth import Principal, Role
from pcse_kit.db import create_engine, create_sessionmaker
from records import detection as records_detection

from bench.national import Nation, payments, performers, records
from stack import ROOT, SERVICES, ensure_databases, with_database

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pcse_kit.postgres import EmbeddedPostgres

DETECT_BATCH = 25
LOADER = Principal(subject="national-data-set", role=Role.OPERATOR, scope=frozenset({"records"}))


@dataclass
class Report:
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    faults: list[tuple[str, str]] = field(default_factory=list)
    """(practice, kind) of each payment fault planted."""
    anomalies: dict[str, int] = field(default_factory=dict)
    """Open anomalies by kind, as the payments service detected them."""
    detected_in: list[str] = field(default_factory=list)
    """The practices whose anomalies were detected."""
    disputes: payments.Disputes = field(default_factory=payments.Disputes)
    planted: records.Planted = field(default_factory=records.Planted)
    """The records failures planted, for the records service's detection to find."""
    detected: dict[str, int] = field(default_factory=dict)
    """Open records incidents of the kinds found from registrations, as detection found them."""

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def lines(self) -> list[str]:
        out = [f"  load time {self.total_seconds:7.1f} s in all"]
        out += [f"    {part:28s} {seconds:7.1f} s" for part, seconds in self.seconds.items()]
        out.append("  rows: " + ", ".join(f"{t} {n:,}" for t, n in self.rows.items()))
        kinds = Counter(kind for _, kind in self.faults)
        out.append(
            f"  payment faults planted in {len(self.faults):,} practices: "
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        )
        out.append(
            f"  anomalies detected in {len(self.detected_in):,} practices: "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.anomalies.items()))
        )
        out.append(
            f"  disputes: {self.disputes.opened:,} opened, {self.disputes.resolved:,} resolved"
        )
        out.append(
            "  records failures planted: "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.planted.counts.items()))
        )
        out.append(
            "  records incidents detected: "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.detected.items()))
        )
        return out


class _Timer:
    def __init__(self, report: Report, part: str) -> None:
        self.report, self.part = report, part

    def __enter__(self) -> None:
        self.started = time.perf_counter()
        print(f"  {self.part}...", flush=True)

    def __exit__(self, *_: object) -> None:
        self.report.seconds[self.part] = time.perf_counter() - self.started


async def load(
    urls: Mapping[str, str],
    nation: Nation,
    *,
    workers: int | None = None,
    detect_all: bool = False,
    parts: frozenset[str] = frozenset(SERVICES),
) -> Report:
    """Load ``nation`` into the databases ``urls`` (by service name), already migrated and
    empty. Detection runs on the practices given faults and the patients given records
    failures, or on everything with ``detect_all`` (slow at national size: each practice's
    five years of lines are read). ``parts`` names the services to load (the performers
    directory always goes in: the other parts are made from it)."""
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    report = Report()
    connect = {name: url.replace("+asyncpg", "") for name, url in urls.items()}

    with _Timer(report, "performers (directory, list)"):
        connection = await asyncpg.connect(connect["performers"])
        try:
            report.rows |= await performers.load(connection, nation)
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()

    if "payments" in parts:
        await _load_payments(report, urls, nation, workers=workers, detect_all=detect_all)
    if "records" in parts:
        await _load_records(report, urls, nation, workers=workers, detect_all=detect_all)
    return report


async def _load_payments(
    report: Report, urls: Mapping[str, str], nation: Nation, *, workers: int, detect_all: bool
) -> None:
    connection = await asyncpg.connect(urls["payments"].replace("+asyncpg", ""))
    try:
        with _Timer(report, "payments (statements, lines)"):
            await payments.load_reference(connection, nation)
            summary = await payments.load_statements(connection, nation, workers=workers)
            report.faults = summary.faults
            await connection.execute("VACUUM ANALYZE")
            for table in ("statement", "statement_line", "pension_estimate"):
                report.rows[table] = await connection.fetchval(f"SELECT count(*) FROM {table}")
        with _Timer(report, "payments (detection)"):
            codes = (
                [p.ods_code for p in nation.practices if p.status == "active"]
                if detect_all
                else sorted({code for code, _ in report.faults})
            )
            await _detect(urls["payments"], codes, nation)
            report.detected_in = codes
            report.anomalies = {
                row["kind"]: row["count"]
                for row in await connection.fetch(
                    "SELECT kind, count(*) FROM anomaly WHERE resolved_at IS NULL GROUP BY kind"
                )
            }
        with _Timer(report, "payments (disputes)"):
            report.disputes = await payments.load_disputes(connection, nation, codes)
            await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def _load_records(
    report: Report, urls: Mapping[str, str], nation: Nation, *, workers: int, detect_all: bool
) -> None:
    connection = await asyncpg.connect(urls["records"].replace("+asyncpg", ""))
    try:
        with _Timer(report, "records (registrations, movements)"):
            loaded = await records.load(connection, nation, workers=workers)
            report.rows |= loaded.rows
            report.planted = loaded.planted
            await connection.execute("VACUUM ANALYZE")
        with _Timer(report, "records (detection)"):
            await _detect_records(
                urls["records"], nation, None if detect_all else loaded.planted.patients
            )
            report.detected = {
                row["kind"]: row["count"]
                for row in await connection.fetch(
                    "SELECT kind, count(*) FROM incident WHERE registration_id IS NOT NULL "
                    "OR kind = 'erroneous_archiving' GROUP BY kind"
                )
            }
            await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def _detect_records(url: str, nation: Nation, patients: list[str] | None) -> None:
    """The records service's own detection: for every patient, or only those planted."""
    engine = create_engine(url, application_name="national-data-set", pool_size=1)
    try:
        async with create_sessionmaker(engine).begin() as session:
            await records_detection.detect(session, LOADER, today=nation.as_of, patients=patients)
    finally:
        await engine.dispose()


async def _detect(url: str, codes: list[str], nation: Nation) -> None:
    """The payments service's own detection, a batch of practices per transaction."""
    engine = create_engine(url, application_name="national-data-set", pool_size=1)
    try:
        sessions = create_sessionmaker(engine)
        for first in range(0, len(codes), DETECT_BATCH):
            async with sessions.begin() as session:
                await payments_service.sync_anomalies(
                    session, codes[first : first + DETECT_BATCH], today=nation.as_of
                )
    finally:
        await engine.dispose()


async def migrated(server: EmbeddedPostgres) -> dict[str, str]:
    """A fresh database per service on ``server``, migrated to head; their URLs."""
    from pcse_kit.migrations import upgrade  # noqa: PLC0415 - alembic only when migrating

    urls = {name: with_database(server.dsn(), f"national_{name}") for name in SERVICES}
    await ensure_databases(server.dsn(), [f"national_{name}" for name in SERVICES])
    for name, url in urls.items():
        await asyncio.to_thread(upgrade, ROOT / "services" / name, url)
    return urls
