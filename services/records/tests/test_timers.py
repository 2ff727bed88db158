"""The working-day calendar and the timers, as pure functions: no database here."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from records.timers import (
    Targets,
    TimerKind,
    TimerState,
    add_months,
    add_working_days,
    due_dates,
    evaluate,
    is_working_day,
    last_working_day_of_week_after,
    working_days_between,
)

TARGETS = Targets()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 12, 24), True),
        (date(2025, 12, 25), False),  # Christmas Day
        (date(2025, 12, 26), False),  # Boxing Day
        (date(2025, 12, 27), False),  # a Saturday
        (date(2026, 12, 28), False),  # Boxing Day falls on a Saturday: Monday is the substitute
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 4, 6), False),  # Easter Monday
        (date(2026, 4, 7), True),
        (date(2022, 9, 19), False),  # the Queen's state funeral: a one-off bank holiday
    ],
)
def test_englands_working_days(day: date, working: bool) -> None:
    assert is_working_day(day) is working


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (date(2026, 11, 30), 5, date(2026, 12, 7)),  # a plain week
        (date(2025, 12, 23), 2, date(2025, 12, 29)),  # over Christmas and the weekend
        (date(2026, 12, 24), 1, date(2026, 12, 29)),  # 25th a Friday, 28th the substitute day
        (date(2026, 4, 2), 1, date(2026, 4, 7)),  # over Easter
        (date(2026, 4, 3), 0, date(2026, 4, 3)),
    ],
)
def test_adding_working_days_skips_weekends_and_bank_holidays(
    start: date, days: int, due: date
) -> None:
    assert add_working_days(start, days) == due


def test_working_days_between_counts_the_end_and_not_the_start() -> None:
    assert working_days_between(date(2025, 12, 23), date(2025, 12, 29)) == 2
    assert working_days_between(date(2026, 4, 2), date(2026, 4, 7)) == 1
    assert working_days_between(date(2026, 4, 7), date(2026, 4, 7)) == 0
    assert working_days_between(date(2026, 4, 8), date(2026, 4, 7)) == 0


def test_months_end_on_the_last_day_when_the_month_is_shorter() -> None:
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 1, 15), 6) == date(2026, 7, 15)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)


def test_each_timer_is_due_on_working_days_across_christmas() -> None:
    friday_before_christmas = date(2025, 12, 19)
    dues = due_dates(
        TARGETS,
        requested_on=friday_before_christmas,
        urgent=True,
        deducted_on=friday_before_christmas,
        collected_on=friday_before_christmas,
        gp2gp_started_on=friday_before_christmas,
        search_started_on=friday_before_christmas,
        missing_since=friday_before_christmas,
    )
    # 22-24 Dec, 29-31 Dec, 2 Jan: 7 working days by 2 Jan (25, 26 Dec and 1 Jan are holidays).
    assert dues.search == date(2025, 12, 30)  # 5 working days
    assert dues.urgent == date(2025, 12, 30)  # the default urgent target: 5 working days
    assert dues.gp2gp == date(2025, 12, 27)  # the end of day 8, calendar days
    assert dues.delivery == date(2026, 1, 7)  # two weeks: 10 working days
    assert dues.label == date(2026, 1, 21)  # four weeks: 20 working days
    assert dues.lost == date(2026, 6, 19)  # six calendar months


def test_each_timer_is_due_on_working_days_across_easter() -> None:
    maundy_thursday = date(2026, 4, 2)
    dues = due_dates(
        TARGETS,
        requested_on=maundy_thursday,
        urgent=True,
        deducted_on=maundy_thursday,
        collected_on=maundy_thursday,
        gp2gp_started_on=maundy_thursday,
        search_started_on=maundy_thursday,
        missing_since=None,
    )
    assert dues.search == date(2026, 4, 13)
    assert dues.urgent == date(2026, 4, 13)
    assert dues.gp2gp == date(2026, 4, 10)  # 8 calendar days, Easter or not
    assert dues.delivery == date(2026, 4, 20)
    assert dues.label == date(2026, 5, 5)  # the early May bank holiday (4 May) counts out too
    assert dues.lost is None


def test_a_timer_that_has_not_started_has_no_due_date() -> None:
    dues = due_dates(
        TARGETS,
        requested_on=date(2026, 3, 2),
        urgent=False,
        deducted_on=None,
        collected_on=None,
        gp2gp_started_on=None,
        search_started_on=None,
        missing_since=None,
    )
    assert (dues.label, dues.delivery, dues.gp2gp, dues.urgent, dues.search, dues.lost) == (
        None,
        None,
        None,
        None,
        None,
        None,
    )


def test_the_urgent_target_is_a_setting() -> None:
    dues = due_dates(
        Targets(urgent_working_days=2),
        requested_on=date(2025, 12, 23),
        urgent=True,
        deducted_on=None,
        collected_on=None,
        gp2gp_started_on=None,
        search_started_on=None,
        missing_since=None,
    )
    assert dues.urgent == date(2025, 12, 29)


@pytest.mark.parametrize(
    ("stopped", "is_open", "on", "state"),
    [
        (None, True, date(2026, 1, 7), TimerState.RUNNING),  # due today: not yet late
        (None, True, date(2026, 1, 8), TimerState.BREACHED),
        (date(2026, 1, 7), False, date(2026, 3, 1), TimerState.MET),
        (date(2026, 1, 8), False, date(2026, 3, 1), TimerState.LATE),
    ],
)
def test_a_timer_runs_is_met_late_or_breached(
    stopped: date | None, is_open: bool, on: date, state: TimerState
) -> None:
    timer = evaluate(
        TimerKind.DELIVERY,
        started_on=date(2025, 12, 19),
        due_on=date(2026, 1, 7),
        stopped_on=stopped,
        is_open=is_open,
        on=on,
    )
    assert timer is not None
    assert timer.state is state
    assert timer.breached is (state in {TimerState.BREACHED, TimerState.LATE})


def test_a_movement_closed_without_the_stopping_event_has_no_timer() -> None:
    # A request cancelled before collection was never late for delivery.
    assert (
        evaluate(
            TimerKind.URGENT,
            started_on=date(2026, 1, 5),
            due_on=date(2026, 1, 12),
            stopped_on=None,
            is_open=False,
            on=date(2026, 3, 1),
        )
        is None
    )


@pytest.mark.parametrize(
    ("ready", "due"),
    [
        # Marked ready on Wednesday 4 March 2026: collected the following week, by Friday 13.
        (date(2026, 3, 4), date(2026, 3, 13)),
        # On a Monday or a Sunday alike, the following week is the next Monday to Friday.
        (date(2026, 3, 2), date(2026, 3, 13)),
        (date(2026, 3, 8), date(2026, 3, 13)),
        # Ready Friday 27 March: the following week ends with Good Friday (3 April), so its
        # last working day is Thursday 2 April.
        (date(2026, 3, 27), date(2026, 4, 2)),
        # Ready 23 December 2026: the following week is 28 Dec (the Boxing Day substitute) to
        # 1 Jan 2027 (New Year's Day): its last working day is Thursday 31 December.
        (date(2026, 12, 23), date(2026, 12, 31)),
    ],
)
def test_a_record_marked_ready_is_due_for_collection_by_the_end_of_the_following_week(
    ready: date, due: date
) -> None:
    assert last_working_day_of_week_after(ready) == due
    dues = due_dates(
        TARGETS,
        requested_on=ready,
        urgent=False,
        deducted_on=None,
        collected_on=None,
        gp2gp_started_on=None,
        search_started_on=None,
        missing_since=None,
        ready_on=ready,
    )
    assert dues.collection == due


def test_a_move_from_another_nation_has_the_longer_delivery_target() -> None:
    monday = date(2026, 3, 2)
    common: dict[str, Any] = {
        "requested_on": monday,
        "urgent": False,
        "deducted_on": None,
        "collected_on": monday,
        "gp2gp_started_on": None,
        "search_started_on": None,
        "missing_since": None,
    }
    assert due_dates(TARGETS, **common).delivery == date(2026, 3, 16)  # 10 working days
    # The default for Wales, Scotland and Northern Ireland: 20 working days.
    assert due_dates(TARGETS, **common, from_other_nation=True).delivery == date(2026, 3, 30)
    assert due_dates(
        Targets(cross_border_delivery_working_days=15), **common, from_other_nation=True
    ).delivery == date(2026, 3, 23)


def test_a_routine_request_is_timed_and_the_target_is_a_setting() -> None:
    monday = date(2026, 3, 2)
    common: dict[str, Any] = {
        "requested_on": monday,
        "urgent": False,
        "deducted_on": None,
        "collected_on": None,
        "gp2gp_started_on": None,
        "search_started_on": None,
        "missing_since": None,
        "routine_request": True,
    }
    # 30 working days from Monday 2 March: six weeks, to Monday 13 April, but Good Friday
    # (3 April) and Easter Monday (6 April) push it to Wednesday 15 April.
    assert due_dates(TARGETS, **common).request == date(2026, 4, 15)
    assert due_dates(Targets(routine_request_working_days=5), **common).request == date(2026, 3, 9)
