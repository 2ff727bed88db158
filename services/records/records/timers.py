"""The timers a record movement runs against, on England's working-day calendar.

PCSE's published targets (the records rules table in the README has each source): a deduction's
label within three to four weeks, a record marked ready collected the following week, delivery
within two weeks of collection, GP2GP integration by the end of day 8 (calendar days), a record
missing after five working days' search and lost after six months. PCSE publishes none for
urgent or routine requests, nor for how much longer a move from outside England takes: those
are settings. Weeks are counted as working days (a week is five), so a bank holiday pushes a due
date out just as it stops the couriers; GP2GP's eight days are calendar days, as the clinical
systems count them.

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
ESCALATION_DAYS: Final = 40
"""An LMC may escalate an enquiry PCSE has left unresolved for more than 40 days."""


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


def last_working_day_of_week_after(day: date, weeks: int = 1) -> date:
    """The last working day of the week ``weeks`` after the one ``day`` falls in (weeks run
    Monday to Sunday): "collected the following week" is late only once that week is over."""
    monday = day - timedelta(days=day.weekday()) + timedelta(weeks=weeks)
    last = monday + timedelta(days=WORKING_WEEK - 1)
    while last >= monday:
        if is_working_day(last):
            return last
        last -= timedelta(days=1)
    # A week with no working day at all: the next working day after it.
    return add_working_days(monday + timedelta(days=6), 1)


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
    collection_weeks: int = 1
    """A record marked ready is collected the following week."""
    delivery_working_days: int = 2 * WORKING_WEEK
    cross_border_delivery_working_days: int = 4 * WORKING_WEEK
    """From Wales, Scotland or Northern Ireland: "longer" than two weeks, says PCSE, without a
    figure; the default is ours, and a setting."""
    gp2gp_days: int = 8
    """Calendar days: the sender is told at the end of day 8 after the record arrived."""
    urgent_working_days: int = 5
    """No published target exists; the default is ours, and a setting."""
    routine_request_working_days: int = 6 * WORKING_WEEK
    """A routine request's record delivered: no published target; the default (the label's
    four weeks and delivery's two) is ours, and a setting."""
    search_working_days: int = 5
    lost_after_months: int = 6


class TimerKind(enum.StrEnum):
    LABEL = "label"
    """A deduction's label (PCS number) issued within four weeks."""
    DELIVERY = "delivery"
    """Delivered within two weeks of collection (longer from another UK nation)."""
    GP2GP = "gp2gp"
    """A GP2GP transfer integrated by the receiver by the end of day 8; otherwise the sender
    must print the record and post it."""
    URGENT = "urgent"
    """An urgent request delivered within the configured target."""
    SEARCH = "search"
    """A record the sender cannot find is declared missing after five working days' search."""
    LOST = "lost"
    """A missing record is declared lost after six months."""
    COLLECTION = "collection"
    """A record marked ready collected by the end of the following week."""
    REQUEST = "request"
    """A routine request delivered within the configured target."""


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
    collection: date | None = None
    request: date | None = None


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
    ready_on: date | None = None,
    routine_request: bool = False,
    from_other_nation: bool = False,
) -> Dues:
    """Due dates from when each timer started; a timer that has not started has none."""

    def after(start: date | None, days: int) -> date | None:
        return None if start is None else add_working_days(start, days)

    delivery_days = (
        targets.cross_border_delivery_working_days
        if from_other_nation
        else targets.delivery_working_days
    )
    return Dues(
        label=after(deducted_on, targets.label_working_days),
        delivery=after(collected_on, delivery_days),
        gp2gp=None
        if gp2gp_started_on is None
        else gp2gp_started_on + timedelta(days=targets.gp2gp_days),
        urgent=after(requested_on if urgent else None, targets.urgent_working_days),
        search=after(search_started_on, targets.search_working_days),
        lost=None
        if missing_since is None
        else add_months(missing_since, targets.lost_after_months),
        collection=None
        if ready_on is None
        else last_working_day_of_week_after(ready_on, targets.collection_weeks),
        request=after(
            requested_on if routine_request else None, targets.routine_request_working_days
        ),
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
