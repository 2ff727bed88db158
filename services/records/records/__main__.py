"""``python -m records serve | migrate | seed-demo | print-schema``, and the loads too large for
a request: ``import-registrations FILE --practice CODE`` (a practice's export) and
``import-feed FILE [--feed-id ID]`` (a day's movements and scans); and ``detect``, for a daily
timer: a registration turns into a problem with the passing of time alone."""

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pcse_kit import dates
from pcse_kit.auth import Principal, Role
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.errors import ClientError
from pcse_kit.service import main
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from records import detection, feed, identifiers, registering
from records.definition import SERVICE
from records.registrations import FileRejected
from records.settings import RecordsSettings, timer_targets


def _operator(actor: str) -> Principal:
    return Principal(subject=actor, role=Role.OPERATOR, scope=frozenset({"records"}))


async def _run(
    application: str, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[str]]
) -> int:
    # Read from the RECORDS_* variables, like the service's.
    settings = RecordsSettings()
    engine = create_engine(settings.database_url, application_name=application)
    try:
        sys.stdout.write(await work(create_sessionmaker(engine)) + "\n")
    except FileRejected as error:
        sys.stderr.write(f"{error.message}\n")
        for row in error.errors:
            sys.stderr.write(f"  line {row.row}, {row.field}: {row.message}\n")
        return 1
    except ClientError as error:
        sys.stderr.write(f"{error.message}\n")
        return 1
    finally:
        await engine.dispose()
    return 0


def _import_registrations(path: Path, practice: str, actor: str) -> int:
    async def work(sessions: async_sessionmaker[AsyncSession]) -> str:
        code = identifiers.ods_code(practice, field="practice")
        text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
        loaded = await registering.import_registrations(
            sessions, _operator(actor), ods_code=code, csv_text=text, today=dates.today()
        )
        state = "already loaded; nothing changed" if loaded.replayed else "loaded"
        opened = ", ".join(f"{kind} {n}" for kind, n in loaded.opened.items() if n) or "none"
        return (
            f"{code}: {loaded.rows} rows {state}, {loaded.added} new; incidents opened: "
            f"{opened}; resolved: {loaded.resolved}"
        )

    return asyncio.run(_run("records-import", work))


def _import_feed(path: Path, feed_id: str, actor: str) -> int:
    async def work(sessions: async_sessionmaker[AsyncSession]) -> str:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
        started = time.perf_counter()
        applied = await feed.import_feed(
            sessions,
            _operator(actor),
            feed_id=feed.feed_id(feed_id),
            csv_text=text,
            targets=timer_targets(),
            today=dates.today(),
        )
        seconds = time.perf_counter() - started
        state = "already applied; nothing changed" if applied.replayed else "applied"
        return (
            f"feed {applied.feed_id} {state}: {applied.lines} lines, {applied.movements_opened} "
            f"movements opened, {applied.movements_changed} changed, {applied.scans} scans, "
            f"{applied.incidents} incidents ({seconds:.1f} s)"
        )

    return asyncio.run(_run("records-feed", work))


def _detect(actor: str) -> int:
    async def work(sessions: async_sessionmaker[AsyncSession]) -> str:
        async with sessions.begin() as session:
            found = await detection.detect(session, _operator(actor), today=dates.today())
        opened = ", ".join(f"{kind} {n}" for kind, n in found.opened.items() if n) or "none"
        return f"incidents opened: {opened}; resolved: {found.resolved}"

    return asyncio.run(_run("records-detect", work))


def _main(argv: list[str]) -> int:
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "import-registrations": lambda a: _import_registrations(a.file, a.practice, a.actor),
        "import-feed": lambda a: _import_feed(a.file, a.feed_id or a.file.stem, a.actor),
        "detect": lambda a: _detect(a.actor),
    }
    if argv[:1] not in ([name] for name in commands):
        return main(SERVICE, argv)
    parser = argparse.ArgumentParser(prog=f"python -m records {argv[0]}")
    arguments: dict[str, Any] = {"default": "records-cli", "help": "who runs it, for the audit"}
    parser.add_argument("--actor", **arguments)
    if argv[0] == "import-registrations":
        parser.add_argument("file", type=Path, help="the export, in the registrations format")
        parser.add_argument("--practice", required=True, help="the practice's ODS code")
    elif argv[0] == "import-feed":
        parser.add_argument("file", type=Path, help="the feed, in the feed format")
        parser.add_argument("--feed-id", help="the feed's id (default: the file's name)")
    return commands[argv[0]](parser.parse_args(argv[1:]))


sys.exit(_main(sys.argv[1:]))
