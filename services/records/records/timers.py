"""The timers a record movement runs against, on England's working-day calendar.

PCSE's published targets (DOMAIN.md, section 4): a deduction's label within three to four weeks,
delivery within two weeks of collection, GP2GP integration within eight days, a record missing
after five working days' search and lost after six months. There is no published target for
urgent requests, so it is a setting. Weeks are counted as working days (a week is five), so a
bank holiday pushes a due date out just as it stops the couriers.

Everything here is a pure function of its arguments: no clock, no database.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Final

import holidays

WORKING_WEEK: Final = 5


@cache
def bank_holidays(year: int) -> frozenset[date]:
    """England's bank holidays in ``year``, substitute days included (``holidays`` keeps the
    list, one-off days such as a state funeral too)."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < WORKING_WEEK and day not in bank_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself never counts)."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    while days:
        day += timedelta(days=1)
        if is_working_day(day):
            days -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end``; 0 when ``end`` is not later."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later, or that month's last day when it is shorter."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, kw_only=True)
class Targets:
    """How long each stage may take. Defaults are PCSE's published figures."""

    label_expected_working_days: int = 3 * WORKING_WEEK
    """The label usually arrives on the weekly run three weeks after the deduction..."""
    label_working_days: int = 4 * WORKING_WEEK
    """...and is late after four."""
    delivery_working_days: int = 2 * WORKING_WEEK
    gp2gp_working_days: int = 8
    urgent_working_days: int = 5
    """No published target exists; the default is ours, and a setting."""
    search_working_days: int = 5
    lost_after_months: int = 6


class TimerKind(enum.StrEnum):
    LABEL = "label"
    """A deduction's label (PCS number) issued within four weeks."""
    DELIVERY = "delivery"
    """Delivered within two weeks of collection."""
    GP2GP = "gp2gp"
    """A GP2GP transfer integrated by the receiver within eight working days; otherwise the
    sender must print the record and post it."""
    URGENT = "urgent"
    """An urgent request delivered within the configured target."""
    SEARCH = "search"
    """A record the sender cannot find is declared missing after five working days' search."""
    LOST = "lost"
    """A missing record is declared lost after six months."""


class TimerState(enum.StrEnum):
    RUNNING = "running"
    MET = "met"
    LATE = "late"
    """Stopped, but after its due date."""
    BREACHED = "breached"
    """Still running past its due date."""


@dataclass(frozen=True)
class Dues:
    """Each timer's due date; None where the timer has not started."""

    label: date | None = None
    delivery: date | None = None
    gp2gp: date | None = None
    urgent: date | None = None
    search: date | None = None
    lost: date | None = None


def due_dates(
    targets: Targets,
    *,
    requested_on: date,
    urgent: bool,
    deducted_on: date | None,
    collected_on: date | None,
    gp2gp_started_on: date | None,
    search_started_on: date | None,
    missing_since: date | None,
) -> Dues:
    """Due dates from when each timer started; a timer that has not started has none."""

    def after(start: date | None, days: int) -> date | None:
        return None if start is None else add_working_days(start, days)

    return Dues(
        label=after(deducted_on, targets.label_working_days),
        delivery=after(collected_on, targets.delivery_working_days),
        gp2gp=after(gp2gp_started_on, targets.gp2gp_working_days),
        urgent=after(requested_on if urgent else None, targets.urgent_working_days),
        search=after(search_started_on, targets.search_working_days),
        lost=None
        if missing_since is None
        else add_months(missing_since, targets.lost_after_months),
    )


@dataclass(frozen=True)
class Timer:
    kind: TimerKind
    started_on: date
    due_on: date
    stopped_on: date | None
    state: TimerState

    @property
    def breached(self) -> bool:
        return self.state in {TimerState.BREACHED, TimerState.LATE}


def evaluate(
    kind: TimerKind,
    *,
    started_on: date | None,
    due_on: date | None,
    stopped_on: date | None,
    is_open: bool,
    on: date,
) -> Timer | None:
    """A timer's state on ``on``; None if it never started, or the movement ended without
    the event that stops it (a cancelled request has no late delivery)."""
    if started_on is None or due_on is None or (stopped_on is None and not is_open):
        return None
    if stopped_on is not None:
        state = TimerState.MET if stopped_on <= due_on else TimerState.LATE
    else:
        state = TimerState.BREACHED if on > due_on else TimerState.RUNNING
    return Timer(kind, started_on, due_on, stopped_on, state)


@dataclass(frozen=True)
class AgeBucket:
    label: str
    min_days: int
    max_days: int | None


AGE_BUCKETS: Final = (
    AgeBucket("under 2 weeks", 0, 13),
    AgeBucket("2 to 4 weeks", 14, 27),
    AgeBucket("4 to 8 weeks", 28, 55),
    AgeBucket("8 weeks to 6 months", 56, 181),
    AgeBucket("6 months or more", 182, None),
)
"""Calendar-day ages of open movements, as a backlog is reported."""
