"""One load of the nation shared by every benchmark that needs it.

Loading the national size takes minutes (about eight on a two-core machine), and three
benchmarks need it. The first to run loads it into a PostgreSQL server of its own, stops the
server cleanly and keeps the data directory under ``.data/bench-national/``, named by a key of
everything that decides the data: the size, the seed, the ``as_of`` date, the generator's
source and every service's migrations. Each benchmark then starts on a *copy* of that
directory, so one ``make bench`` loads the nation once, and a benchmark run on its own loads
it only if no copy is kept. A benchmark that changes what it finds (the feed, the events)
starts on a copy of the kept directory, which at national size is about 20 GB; one that only
reads (the LMC summaries; the refresh, which rolls back what it does) starts on the kept
directory itself.

A change to the generator or to a migration changes the key, so a stale copy is never used;
older copies of the same size are removed when a new one is made. ``make clean-data`` removes
them all. ``--fresh`` on a benchmark loads anew whatever is kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pickle
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pcse_kit.postgres import EmbeddedPostgres

from bench.national import SEED, SIZES
from bench.national.load import Report, load
from stack import ROOT, SERVICES, Stack, StackConfig

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from bench.national import Nation

CACHE = ROOT / ".data" / "bench-national"
VERSION = 1
"""Raised by hand when something outside the hashed files changes what is loaded."""
COMPLETE = "complete"


def add_nation_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every national benchmark takes: which nation, and how it is loaded."""
    parser.add_argument("--size", choices=sorted(SIZES), default="national")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workers", type=int, default=None, help="generator processes")
    parser.add_argument("--fresh", action="store_true", help="load anew, not a kept copy")


def key(nation: Nation) -> str:
    """Everything the loaded databases depend on, in one digest."""
    hasher = hashlib.sha256(f"{VERSION}:{nation.size!r}:{nation.seed}:{nation.as_of}".encode())
    # This module decides where the data are kept, not what they are.
    sources = sorted(p for p in (ROOT / "bench" / "national").glob("*.py") if p.name != "cache.py")
    for name in SERVICES:
        sources += sorted((ROOT / "services" / name).rglob("migrations/**/*.py"))
    for path in sources:
        hasher.update(str(path.relative_to(ROOT)).encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()[:16]


@dataclass
class Loaded:
    stack: Stack
    nation: Nation
    report: Report
    """The load's report, as printed when it was made (its times are that load's)."""
    reused: bool
    """Whether a kept copy was used (True) or the nation was loaded in this run."""


def _config(directory: Path, server: EmbeddedPostgres, *, extra_env: dict[str, str]) -> StackConfig:
    config = StackConfig.free_ports(
        directory, server_url=server.dsn(), seed_demo=False, trust_dev_key=True
    )
    config.extra_env.update(extra_env)
    return config


def _make(kept: Path, nation: Nation, *, workers: int | None) -> None:
    """Load the nation into a server of its own and keep its stopped data directory."""
    CACHE.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=CACHE))
    try:
        server = EmbeddedPostgres(building / "postgres", durable=False)
        server.start()
        try:
            # The stack provisions the roles and migrates, as it does for every benchmark.
            with Stack(_config(building / "stack", server, extra_env={})) as stack:
                # As the tables' owner: the loader sets sequences after its COPY.
                report = asyncio.run(load(stack.migrate_urls, nation, workers=workers))
        finally:
            server.stop(timeout=120)
        shutil.rmtree(building / "stack")
        (building / "report.pickle").write_bytes(pickle.dumps(report))
        (building / COMPLETE).write_text(f"{nation.size.name} {nation.seed} {nation.as_of}\n")
        for old in CACHE.glob(f"{nation.size.name}-*"):
            shutil.rmtree(old, ignore_errors=True)
        building.rename(kept)
    finally:
        shutil.rmtree(building, ignore_errors=True)


@contextmanager
def national_stack(
    nation: Nation,
    *,
    workers: int | None = None,
    fresh: bool = False,
    writes: bool = True,
    extra_env: dict[str, str] | None = None,
    prefix: str = "pcse-bench-national-",
) -> Iterator[Loaded]:
    """A stack on free ports over the loaded nation; loads it first if none is kept (or
    ``fresh``). With ``writes`` the stack runs on a copy of the kept data directory, without
    on the kept directory itself (for a benchmark that changes nothing it keeps). Prints where
    the data came from and how long the copy took."""
    kept = CACHE / f"{nation.size.name}-{key(nation)}"
    reused = (kept / COMPLETE).exists() and not fresh
    if not reused:
        print(f"  loading the {nation.size.name} data set once, kept in {kept}", flush=True)
        _make(kept, nation, workers=workers)
    report: Report = pickle.loads((kept / "report.pickle").read_bytes())
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        data = kept / "postgres"
        if writes:
            data = Path(tmp) / "postgres"
            started = time.perf_counter()
            # --reflink=auto: a copy-on-write clone where the file system can, a full copy else.
            subprocess.run(
                ["cp", "-a", "--reflink=auto", str(kept / "postgres"), str(data)], check=True
            )
            how = f"copied in {time.perf_counter() - started:.1f} s"
        else:
            how = "used in place (this benchmark changes nothing it keeps)"
        print(
            f"  {'kept' if reused else 'new'} load of the {nation.size.name} data set "
            f"({kept.name}, {_size(data) / 1e9:.1f} GB): {how}",
            flush=True,
        )
        server = EmbeddedPostgres(data, durable=False, log_file=Path(tmp) / "postgres.log")
        server.start(timeout=120)
        try:
            config = _config(Path(tmp) / "stack", server, extra_env=extra_env or {})
            with Stack(config) as stack:
                yield Loaded(stack=stack, nation=nation, report=report, reused=reused)
        finally:
            server.stop(timeout=120)


def _size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(folder) / name).stat().st_size
            except FileNotFoundError:  # a temporary file the server removed meanwhile
                continue
    return total
