"""The daily schedule keeps its wall-clock hour across the clock changes."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
from zoneinfo import ZoneInfo

import pytest
from pcse_kit.schedule import next_run, parse_time, run_daily

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC
SIX = dt.time(6, 0)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # A winter day: 06:00 GMT is 06:00 UTC, later the same day.
        (dt.datetime(2026, 1, 14, 3, 0, tzinfo=UTC), dt.datetime(2026, 1, 14, 6, 0, tzinfo=UTC)),
        # Past today's run: tomorrow's.
        (dt.datetime(2026, 1, 14, 6, 0, tzinfo=UTC), dt.datetime(2026, 1, 15, 6, 0, tzinfo=UTC)),
        # The clocks go forward at 01:00 UTC on Sunday 29 March 2026: 06:00 BST is 05:00 UTC.
        (dt.datetime(2026, 3, 28, 10, 0, tzinfo=UTC), dt.datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),
        # They go back at 01:00 UTC on Sunday 25 October 2026: 06:00 GMT is 06:00 UTC again,
        # 25 hours after the previous day's 06:00 BST (05:00 UTC on the 24th).
        (dt.datetime(2026, 10, 24, 5, 0, tzinfo=UTC), dt.datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),
    ],
)
def test_next_run_is_six_in_the_morning_in_london(
    after: dt.datetime, expected: dt.datetime
) -> None:
    assert next_run(after, SIX, LONDON) == expected


def test_times_are_read_as_hours_and_minutes() -> None:
    assert parse_time("06:30") == dt.time(6, 30)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_time("6 in the morning")


async def test_the_job_runs_when_due_is_retried_after_a_failure_and_stops_on_sigterm() -> None:
    runs: list[str] = []

    async def job() -> None:
        runs.append("run")
        if len(runs) == 1:
            raise RuntimeError("the database is restarting")
        os.kill(os.getpid(), signal.SIGTERM)  # run_daily's own handler is installed meanwhile

    due = (dt.datetime.now(UTC) + dt.timedelta(seconds=1)).time()
    await asyncio.wait_for(run_daily(job, at=due, zone=ZoneInfo("UTC"), retry_seconds=0.2), 30)
    assert runs == ["run", "run"]
