"""A job run once a day at a wall-clock time, for deployments without a scheduler of their own.

Kubernetes has CronJobs; Docker Compose has nothing, so its ``refresh`` service runs a command
with ``--daily-at`` and this loop. The time is local to a time zone (Europe/London by
default), so the job keeps its hour across the clock changes. A run that fails is logged
and tried again after ``retry_seconds``, until it succeeds or the next day's run is due.
SIGTERM and SIGINT end the wait at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from zoneinfo import ZoneInfo

logger = logging.getLogger("pcse.schedule")


def next_run(after: dt.datetime, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The first moment strictly after ``after`` whose wall-clock time in ``zone`` is ``at``.

    On the day the clocks go forward a time in the skipped hour does not exist; zoneinfo then
    reads it with the offset before the change, which is the moment the clocks jump.
    """
    local = after.astimezone(zone)
    candidate = dt.datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = dt.datetime.combine(local.date() + dt.timedelta(days=1), at, tzinfo=zone)
    return candidate


def parse_time(value: str) -> dt.time:
    """``HH:MM`` (24-hour clock)."""
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a time of day as HH:MM: {value!r}") from None


async def run_daily(
    job: Callable[[], Awaitable[object]],
    *,
    at: dt.time,
    zone: ZoneInfo,
    retry_seconds: float = 600.0,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> None:
    """Run ``job`` every day at ``at`` in ``zone`` until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        due = next_run(now(), at, zone)
        while not stop.is_set():
            logger.info("next run at %s", due.isoformat())
            if await _sleep_until(due, stop, now):
                return
            following = next_run(due, at, zone)
            while not stop.is_set():
                try:
                    await job()
                    break
                except Exception:
                    logger.exception("the daily run failed; trying again in %.0f s", retry_seconds)
                retry_at = now() + dt.timedelta(seconds=retry_seconds)
                if retry_at >= following:
                    break
                if await _sleep_until(retry_at, stop, now):
                    return
            due = following
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _sleep_until(
    moment: dt.datetime, stop: asyncio.Event, now: Callable[[], dt.datetime]
) -> bool:
    """Wait until ``moment``; True if told to stop first."""
    delay = (moment - now()).total_seconds()
    if delay <= 0:
        return stop.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay)
    return stop.is_set()
