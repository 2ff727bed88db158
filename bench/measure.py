"""Figures every benchmark prints: percentiles, and a process's CPU time and peak memory; and
waiting for the stack's events to settle before measuring."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages, as benchmarks print them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def event_state(metrics_url: str) -> tuple[float, float, float]:
    """A service's outbox backlog, its consumers' lag and the events they have applied."""
    response = httpx.get(metrics_url, timeout=10)
    response.raise_for_status()
    backlog = lag = consumed = 0.0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "pcse_outbox_backlog_events":
                backlog += sample.value
            elif sample.name == "pcse_consumer_lag_events":
                lag += sample.value
            elif sample.name == "pcse_events_consumed_total":
                consumed += sample.value
    return backlog, lag, consumed


def wait_for_events(metrics_urls: list[str], *, timeout: float = 180.0) -> float:
    """Wait until every outbox is empty and every consumer has caught up, and nothing was
    applied for a second; the seconds waited. Start-up (the demo data's events) must not
    be measured as the load's cost."""
    started = time.monotonic()
    previous: list[tuple[float, float, float]] | None = None
    while time.monotonic() - started < timeout:
        states = [event_state(url) for url in metrics_urls]
        idle = all(backlog == 0 and lag == 0 for backlog, lag, _ in states)
        if idle and states == previous:
            return time.monotonic() - started
        previous = states
        time.sleep(1.0)
    raise TimeoutError(f"events still flowing after {timeout:g} s")
