"""Make a nation and load it into fresh databases on a PostgreSQL of its own; print what was
loaded and how long each part took. Stops the server it started, whatever happens.

    .venv/bin/python -m bench.national [--size small|national] [--seed 2026] [--as-of DATE]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import date
from pathlib import Path

from pcse_kit import dates
from pcse_kit.postgres import EmbeddedPostgres

from bench.national import SEED, SIZES, build
from bench.national.load import load, migrated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="national")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="default today")
    parser.add_argument("--workers", type=int, default=None, help="generator processes")
    parser.add_argument(
        "--detect-all", action="store_true", help="run payment detection on every practice"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    nation = build(SIZES[args.size], seed=args.seed, as_of=args.as_of or dates.today())
    print(
        f"{args.size} nation, seed {args.seed}, as of {nation.as_of}: {len(nation.practices):,}"
        f" practices, {len(nation.lmcs)} LMCs, {len(nation.performers):,} performers"
        f" (directory made in {time.perf_counter() - started:.1f} s; digest {nation.digest[:16]})"
    )
    with (
        tempfile.TemporaryDirectory(prefix="pcse-national-") as tmp,
        EmbeddedPostgres(Path(tmp) / "postgres", durable=False) as server,
    ):
        urls = asyncio.run(migrated(server))
        report = asyncio.run(load(urls, nation, workers=args.workers, detect_all=args.detect_all))
    print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
