"""This checkout's practice status query against another revision's, side by side in one run.

Extracts ``--baseline`` (a git revision, ``main`` unless given) into a temporary folder and
starts its stack beside this checkout's, each on free ports with the demo data, both on this
checkout's virtual environment and gateway packages (the baseline's code comes first on its
``PYTHONPATH``). Once both have applied their start-up events, the same open loop as
``bench.gateway_overhead`` (the contract query, a different practice each request, each with
its own practice's token, verified by the gateway and every subgraph) is sent to each stack in
turn for ``--rounds`` rounds, so that the machine's changing load falls on both alike. Prints
each process's CPU milliseconds per request, p50/p99 and errors for both, with their ratios,
and the load average before and after.

    .venv/bin/python -m bench.status_ab [--baseline main] [--rate 25] [--duration 10]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.gateway_overhead import (
    compare,
    open_loop_tokens,
    practice_tokens,
    print_comparison,
    settle,
)
from bench.measure import load_average
from stack import ROOT, Stack, StackConfig

_BASELINE_STACK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from bench.measure import wait_for_events
    from stack import SERVICES, Stack, StackConfig

    practices, data_dir = json.loads(sys.argv[1]), Path(sys.argv[2])
    config = StackConfig.free_ports(data_dir, seed_demo=True)
    config.extra_env["GATEWAY_RATE_LIMIT"] = "0"
    with Stack(config) as stack:
        wait_for_events([stack.metrics_url(name) for name in SERVICES])
        print(json.dumps({
            "gateway_url": stack.gateway_url,
            "pids": {child.name: child.process.pid for child in stack.children},
            "tokens": {code: stack.token("practice", [code]) for code in practices},
        }), flush=True)
        sys.stdin.read()  # until the comparison closes it
    """
)


@dataclass
class _Process:
    pid: int


@dataclass
class _Child:
    name: str
    process: _Process


@dataclass
class BaselineStack:
    """What the open loop needs of a stack running in another process."""

    gateway_url: str
    children: list[_Child] = field(default_factory=list)


def extract(revision: str, into: Path) -> Path:
    """The tree of ``revision``, with this checkout's gateway packages."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision],
        check=True,
        capture_output=True,
    ).stdout
    tree = into / "tree"
    tree.mkdir()
    archive_path = into / "tree.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(tree, filter="data")
    (tree / "gateway" / "node_modules").symlink_to(ROOT / "gateway" / "node_modules")
    return tree


def start_baseline(
    tree: Path, data_dir: Path, practices: list[str]
) -> tuple[subprocess.Popen[str], BaselineStack, dict[str, str]]:
    paths = [tree, tree / "kit", *(tree / "services" / name for name in _services(tree))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}
    process = subprocess.Popen(
        [sys.executable, "-c", _BASELINE_STACK, json.dumps(practices), str(data_dir)],
        cwd=tree,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise RuntimeError("the baseline stack did not start")
    ready: dict[str, Any] = json.loads(line)
    stack = BaselineStack(
        gateway_url=ready["gateway_url"],
        children=[_Child(name, _Process(pid)) for name, pid in ready["pids"].items()],
    )
    return process, stack, ready["tokens"]


def _services(tree: Path) -> list[str]:
    return sorted(p.name for p in (tree / "services").iterdir() if (p / p.name).is_dir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="main", help="git revision to compare against")
    parser.add_argument("--rate", type=float, default=25.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the stacks alternated")
    parser.add_argument("--connections", type=int, default=64, help="open-loop clients")
    args = parser.parse_args()
    practices = [
        p["odsCode"]
        for p in json.loads((ROOT / "demo" / "directory.json").read_text())["practices"]
    ]
    with tempfile.TemporaryDirectory(prefix="pcse-ab-") as tmp:
        tree = extract(args.baseline, Path(tmp))
        (Path(tmp) / "before-data").mkdir()
        process, before, before_tokens = start_baseline(tree, Path(tmp) / "before-data", practices)
        try:
            config = StackConfig.free_ports(Path(tmp) / "after-data", seed_demo=True)
            config.extra_env["GATEWAY_RATE_LIMIT"] = "0"
            with Stack(config) as after:
                settle(after)
                after_tokens = practice_tokens(after, practices)
                # The open loop reads only the gateway's URL and the processes' ids.
                baseline = cast("Stack", before)
                # Warm both stacks' pools and caches alike before measuring.
                for stack, tokens in ((baseline, before_tokens), (after, after_tokens)):
                    asyncio.run(open_loop_tokens(stack, practices, tokens, rate=20, count=72))
                load_before = load_average()
                comparison = compare(
                    {
                        args.baseline[:10]: (baseline, before_tokens),
                        "this tree": (after, after_tokens),
                    },
                    practices,
                    rate=args.rate,
                    duration=args.duration,
                    rounds=args.rounds,
                    connections=args.connections,
                )
                load_after = load_average()
        finally:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=60)
    print_comparison(comparison, rate=args.rate, duration=args.duration, rounds=args.rounds)
    print(f"  load average (1, 5, 15 min): {load_before} before, {load_after} after")


if __name__ == "__main__":
    main()
