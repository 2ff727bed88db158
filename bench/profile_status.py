"""Where the CPU of the practice status query goes, in each process: a profile, not a figure.

Starts the stack on free ports, sends the client contract query through the gateway at a fixed
rate, a different practice each request, each with its own practice's token (verified by the
gateway and by every subgraph), and meanwhile samples each service with py-spy and the gateway
with Node's own CPU profiler (``--cpu-prof``, written when it stops). Prints, per process, the
functions with the most samples on CPU: by self time (the frame itself) and inclusive (the
frame and what it called), as a share of that process's samples.

    .venv/bin/python -m bench.profile_status [--rate 30] [--duration 20] [--top 25]
        [--keep DIR]   # keep the raw profiles (py-spy's collapsed stacks, .cpuprofile)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.gateway_overhead import open_loop_tokens
from bench.measure import wait_for_events
from stack import ROOT, SERVICES, Stack, StackConfig

PY_SPY = Path(sys.executable).parent / "py-spy"
STOP_MARGIN_SECONDS = 4.0
"""From the last request to the gateway's exit, as the stack stops it."""


def practices() -> list[str]:
    directory = json.loads((ROOT / "demo" / "directory.json").read_text())
    return [p["odsCode"] for p in directory["practices"]]


def _frame_name(frame: str) -> str:
    """``function (path/to/file.py:123)`` without the line, the path from site-packages on."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


Summary = tuple[int, list[tuple[str, int]], list[tuple[str, int]]]
"""Samples on CPU, and the top frames by self and by inclusive samples."""


def summarise_collapsed(text: str, top: int) -> Summary:
    """Samples, and the top frames by self and inclusive samples, of py-spy's raw output."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        # The first frame is the thread (``process 123:"python"``); skip it.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if frames:
            self_counts[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return total, self_counts.most_common(top), inclusive.most_common(top)


def summarise_cpuprofile(profile: dict[str, Any], top: int, *, last_seconds: float) -> Summary:
    """The same for a V8 CPU profile: samples off idle in its last ``last_seconds`` (the
    profile runs from start-up to exit; only the measured load is wanted), top frames by self
    and inclusive."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent: dict[int, int] = {}
    for node in profile["nodes"]:
        for child in node.get("children", []):
            parent[child] = node["id"]

    def name(node: dict[str, Any]) -> str:
        frame = node["callFrame"]
        url = str(frame.get("url", ""))
        if "node_modules/" in url:
            url = url.rsplit("node_modules/", 1)[1]
        elif url.startswith("file://"):
            url = url.rsplit("/", 1)[1]
        label = frame.get("functionName") or "(anonymous)"
        return f"{label} ({url})" if url else label

    times: list[int] = []
    now = int(profile["startTime"])
    for delta in profile.get("timeDeltas", []):
        now += int(delta)
        times.append(now)
    since = int(profile["endTime"]) - int(last_seconds * 1_000_000)
    hits = Counter(
        sample for sample, at in zip(profile.get("samples", []), times, strict=False) if at >= since
    )
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for node_id, count in hits.items():
        node = nodes[node_id]
        if node["callFrame"].get("functionName") == "(idle)":
            continue
        total += count
        self_counts[name(node)] += count
        seen: set[str] = set()
        current: int | None = node_id
        while current is not None:
            label = name(nodes[current])
            if label not in seen and label != "(root)":
                inclusive[label] += count
                seen.add(label)
            current = parent.get(current)
    return total, self_counts.most_common(top), inclusive.most_common(top)


def print_summary(name: str, summary: Summary) -> None:
    total, by_self, by_inclusive = summary
    print(f"\n== {name}: {total} samples on CPU")
    if not total:
        return
    print("  self")
    for frame, count in by_self:
        print(f"    {100 * count / total:5.1f}%  {frame}")
    print("  inclusive")
    for frame, count in by_inclusive:
        print(f"    {100 * count / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=30.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of profiling")
    parser.add_argument("--top", type=int, default=25, help="frames shown per list")
    parser.add_argument("--keep", type=Path, help="copy the raw profiles to this folder")
    args = parser.parse_args()
    if not PY_SPY.exists():
        raise SystemExit(f"py-spy is not installed at {PY_SPY}: run make deps")
    codes = practices()
    with tempfile.TemporaryDirectory(prefix="pcse-profile-") as tmp:
        out = Path(tmp) / "profiles"
        out.mkdir()
        config = StackConfig.free_ports(Path(tmp), seed_demo=True)
        config.extra_env["GATEWAY_RATE_LIMIT"] = "0"
        config.gateway_node_args = ["--cpu-prof", f"--cpu-prof-dir={out}"]
        with Stack(config) as stack:
            tokens = {code: stack.token("practice", [code]) for code in codes}
            wait_for_events([stack.metrics_url(name) for name in SERVICES])
            pids = {child.name: child.process.pid for child in stack.children}
            # Warm up: every practice's token seen, pools and caches filled.
            asyncio.run(open_loop_tokens(stack, codes, tokens, rate=20, count=len(codes) * 3))
            samplers = {
                name: subprocess.Popen(
                    [
                        str(PY_SPY),
                        "record",
                        "--pid",
                        str(pids[name]),
                        "--rate",
                        "250",
                        "--nonblocking",
                        "--format",
                        "raw",
                        "--duration",
                        str(int(args.duration) + 1),
                        "--output",
                        str(out / f"{name}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for name in SERVICES
            }
            result = asyncio.run(
                open_loop_tokens(
                    stack, codes, tokens, rate=args.rate, count=round(args.rate * args.duration)
                )
            )
            for sampler in samplers.values():
                sampler.wait(timeout=60)
        latencies, errors = result
        print(
            f"profiled {len(latencies)} requests at {args.rate:g}/s for {args.duration:g} s,"
            f" {errors.total()} errors {dict(errors)}"
        )
        for name in SERVICES:
            path = out / f"{name}.txt"
            text = path.read_text() if path.exists() else ""
            print_summary(name, summarise_collapsed(text, args.top))
        cpu_profiles = sorted(out.glob("*.cpuprofile"))
        if cpu_profiles:
            profile = json.loads(cpu_profiles[-1].read_text())
            # The load, and the stop that followed it (a few seconds, mostly idle).
            window = args.duration + STOP_MARGIN_SECONDS
            print_summary("gateway", summarise_cpuprofile(profile, args.top, last_seconds=window))
        else:
            print("\n== gateway: no CPU profile written")
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for path in [*out.iterdir(), *(Path(tmp) / "logs").iterdir()]:
                shutil.copy(path, args.keep / path.name)


if __name__ == "__main__":
    main()
