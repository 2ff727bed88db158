"""``python -m payments serve | migrate | seed-demo | print-schema``, and the imports:
``import-run FILE [--run-id ID]`` and ``import-published FILE --year YYYY``; and
``refresh-anomalies [--daily-at HH:MM]``, for a daily timer or as one."""

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pcse_kit import dates, schedule
from pcse_kit.auth import Principal, Role
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.errors import ClientError
from pcse_kit.service import main

from payments.definition import SERVICE
from payments.detection import service as detection_service
from payments.published import service as published_service
from payments.settings import PaymentsSettings
from payments.statements import service
from payments.statements.ingest import RunRejected


async def _import(path: Path, run_id: str, actor: str) -> int:
    # Read from the PAYMENTS_* variables, like the service's.
    settings = PaymentsSettings()
    engine = create_engine(settings.database_url, application_name="payments-import")
    try:
        result = await service.import_run(
            create_sessionmaker(engine),
            Principal(subject=actor, role=Role.OPERATOR, scope=frozenset({"payments"})),
            run_id=service.run_id(run_id),
            csv_text=await asyncio.to_thread(path.read_text, encoding="utf-8"),
            idempotency_key=None,
            today=dates.today(),
        )
    except RunRejected as error:
        sys.stderr.write(f"{error.message}\n")
        for row in error.errors:
            sys.stderr.write(f"  row {row.row}, {row.field}: {row.message}\n")
        return 1
    except ClientError as error:
        sys.stderr.write(f"{error.message}\n")
        return 1
    finally:
        await engine.dispose()
    state = "already imported; nothing changed" if result.replayed else "imported"
    sys.stdout.write(
        f"run {result.run_id} {state}: {result.line_count} lines on "
        f"{result.statement_count} statements, {len(result.practice_codes)} practices\n"
    )
    return 0


async def _import_published(path: Path, year: int, actor: str) -> int:
    settings = PaymentsSettings()
    engine = create_engine(settings.database_url, application_name="payments-import")
    try:
        result = await published_service.import_published(
            create_sessionmaker(engine),
            Principal(subject=actor, role=Role.OPERATOR, scope=frozenset({"payments"})),
            financial_year=year,
            csv_text=await asyncio.to_thread(path.read_text, encoding="utf-8-sig"),
            today=dates.today(),
        )
    except RunRejected as error:
        sys.stderr.write(f"{error.message}\n")
        for row in error.errors:
            sys.stderr.write(f"  row {row.row}, {row.field}: {row.message}\n")
        return 1
    except ClientError as error:
        sys.stderr.write(f"{error.message}\n")
        return 1
    finally:
        await engine.dispose()
    state = "already imported; nothing changed" if result.replayed else "imported"
    sys.stdout.write(f"{result.financial_year}: {result.practice_count} practices {state}\n")
    return 0


async def _refresh(actor: str) -> int:
    """Due dates pass with nothing arriving: a daily timer runs this to see what fell due."""
    settings = PaymentsSettings()
    engine = create_engine(settings.database_url, application_name="payments-refresh")
    try:
        result = await detection_service.refresh_anomalies(
            create_sessionmaker(engine),
            Principal(subject=actor, role=Role.OPERATOR, scope=frozenset({"payments"})),
            ods_codes=None,
            today=dates.today(),
        )
    finally:
        await engine.dispose()
    sys.stdout.write(
        f"anomalies: {result.opened} new, {result.resolved} resolved, {result.open} open; "
        f"published {result.escalatable} dispute.escalatable, {result.deadlines} "
        "deadline.approaching\n"
    )
    return 0


def _refresh_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m payments refresh-anomalies")
    parser.add_argument(
        "--daily-at",
        metavar="HH:MM",
        help="stay running and refresh every day at this time (for Docker Compose, which has "
        "no scheduler of its own); without it, refresh once and exit",
    )
    parser.add_argument(
        "--time-zone", default="Europe/London", help="of --daily-at (default Europe/London)"
    )
    args = parser.parse_args(argv)
    if args.daily_at is None:
        return asyncio.run(_refresh("payments-cli"))
    logging.basicConfig(
        level="INFO", format="%(asctime)s payments-refresh %(levelname)s: %(message)s"
    )
    try:
        at = schedule.parse_time(args.daily_at)
        zone = ZoneInfo(args.time_zone)
    except (ValueError, ZoneInfoNotFoundError) as error:
        parser.error(str(error))
    asyncio.run(schedule.run_daily(lambda: _refresh("payments-scheduler"), at=at, zone=zone))
    return 0


def _main(argv: list[str]) -> int:
    if argv[:1] == ["refresh-anomalies"]:
        return _refresh_command(argv[1:])
    if argv[:1] == ["import-published"]:
        parser = argparse.ArgumentParser(prog="python -m payments import-published")
        parser.add_argument("file", type=Path, help="the data set's CSV for one year")
        parser.add_argument("--year", type=int, required=True, help="2023 for 2023/24")
        parser.add_argument("--actor", default="payments-cli", help="who imports, for the audit")
        args = parser.parse_args(argv[1:])
        return asyncio.run(_import_published(args.file, args.year, args.actor))
    if argv[:1] != ["import-run"]:
        return main(SERVICE, argv)
    parser = argparse.ArgumentParser(prog="python -m payments import-run")
    parser.add_argument("file", type=Path, help="the run, in the payment run CSV format")
    parser.add_argument("--run-id", help="the run's id (default: the file's name)")
    parser.add_argument("--actor", default="payments-cli", help="who imports, for the audit")
    args = parser.parse_args(argv[1:])
    return asyncio.run(_import(args.file, args.run_id or args.file.stem, args.actor))


sys.exit(_main(sys.argv[1:]))
