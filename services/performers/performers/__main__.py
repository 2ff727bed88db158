"""``python -m performers serve | migrate | seed-demo | print-schema``, and the file loads:
``import-directory EPRACCUR.csv [--successors succ.csv]`` (the ODS GP practice file) and
``import-list-sizes FILE [--source TEXT]`` (list sizes by quarter, layout in directory.py) and
``import-published-list FILE [--checked-on DATE]`` (an export of the published list)."""

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path

from pcse_kit import dates
from pcse_kit.auth import Principal, Role
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.service import main

from performers import directory, published
from performers.definition import SERVICE
from performers.settings import PerformersSettings

ACTOR = Principal(subject="performers-cli", role=Role.OPERATOR, scope=frozenset({"performers"}))


async def _import_directory(path: Path, successors: Path | None, lmcs: list[str]) -> int:
    try:
        lmc_for_icb = dict(item.split("=", 1) for item in lmcs)
    except ValueError:
        sys.stderr.write("--lmc takes ICB=LMC, e.g. --lmc QH8=essex\n")
        return 2
    engine = create_engine(PerformersSettings().database_url, application_name="performers-import")
    try:
        report = await directory.load_directory(
            create_sessionmaker(engine),
            ACTOR,
            epraccur=await asyncio.to_thread(path.read_text, encoding="utf-8-sig"),
            successors=None
            if successors is None
            else await asyncio.to_thread(successors.read_text, encoding="utf-8-sig"),
            lmc_for_icb=lmc_for_icb,
        )
    except ValueError as error:
        sys.stderr.write(f"nothing loaded: {error}\n")
        return 1
    finally:
        await engine.dispose()
    sys.stdout.write(
        f"{report.rows} rows, {report.practices} GP practices: {report.inserted} new, "
        f"{report.updated} changed ({report.closed} closed, {report.merged} merged), "
        f"{report.unchanged} unchanged\n"
    )
    for reason, count in sorted(report.skipped.items()):
        sys.stdout.write(f"  skipped {count}: {reason}\n")
    for problem in report.problems[:50]:
        sys.stderr.write(f"  {problem}\n")
    return 0


async def _import_published(path: Path, checked_on: date) -> int:
    engine = create_engine(PerformersSettings().database_url, application_name="performers-import")
    try:
        report = await published.load_published_list(
            create_sessionmaker(engine),
            ACTOR,
            text=await asyncio.to_thread(path.read_text, encoding="utf-8-sig"),
            checked_on=checked_on,
        )
    except published.ExportRejected as error:
        sys.stderr.write(f"nothing loaded: {error}\n")
        return 1
    finally:
        await engine.dispose()
    sys.stdout.write(
        f"{report.entries} entries under {report.numbers} GMC numbers ({report.malformed} rows "
        f"without one): {report.changed} performers changed; {report.not_visible} held but "
        f"not shown, {report.listed_twice} shown more than once, {report.not_held} shown but "
        "not held\n"
    )
    return 0


async def _import_list_sizes(path: Path, source: str) -> int:
    engine = create_engine(PerformersSettings().database_url, application_name="performers-import")
    try:
        report = await directory.load_list_sizes(
            create_sessionmaker(engine),
            ACTOR,
            text=await asyncio.to_thread(path.read_text, encoding="utf-8-sig"),
            source=source,
        )
    except directory.ListSizesRejected as rejected:
        sys.stderr.write("nothing loaded:\n")
        for problem in rejected.problems[:50]:
            sys.stderr.write(f"  {problem}\n")
        return 1
    finally:
        await engine.dispose()
    sys.stdout.write(
        f"{report.rows} rows: {report.recorded} recorded, {report.unchanged} unchanged, "
        f"list size changed for {report.practices_resized} practices\n"
    )
    return 0


def _main(argv: list[str]) -> int:
    if argv[:1] == ["import-directory"]:
        parser = argparse.ArgumentParser(prog="python -m performers import-directory")
        parser.add_argument("file", type=Path, help="epraccur.csv (headerless, 27 columns)")
        parser.add_argument("--successors", type=Path, help="succ.csv: mergers")
        parser.add_argument(
            "--lmc",
            action="append",
            default=[],
            metavar="ICB=LMC",
            help="the LMC of new practices in an ICB that no single LMC covers",
        )
        args = parser.parse_args(argv[1:])
        return asyncio.run(_import_directory(args.file, args.successors, args.lmc))
    if argv[:1] == ["import-list-sizes"]:
        parser = argparse.ArgumentParser(prog="python -m performers import-list-sizes")
        parser.add_argument("file", type=Path)
        parser.add_argument("--source", help="where the figures come from (the file name)")
        args = parser.parse_args(argv[1:])
        return asyncio.run(_import_list_sizes(args.file, args.source or args.file.name))
    if argv[:1] == ["import-published-list"]:
        parser = argparse.ArgumentParser(prog="python -m performers import-published-list")
        parser.add_argument("file", type=Path, help="an export of the published list (CSV)")
        parser.add_argument(
            "--checked-on",
            type=date.fromisoformat,
            help="the day the export was taken (today when left out)",
        )
        args = parser.parse_args(argv[1:])
        return asyncio.run(_import_published(args.file, args.checked_on or dates.today()))
    return main(SERVICE, argv)


sys.exit(_main(sys.argv[1:]))
