""" "Can this GP start?" for the cases the regulations distinguish, on fixed dates.

Every date is written out; the windows are counted by hand beside each case.
"""

from __future__ import annotations

from datetime import date

import pytest
from performers.models import ChangeKind, ChangeRequest, ListStatus, Performer
from performers.rules import add_months, registrar_window_ends
from performers.start import Effect, ReasonCode, answer

ON = date(2026, 3, 2)


def performer(**values: object) -> Performer:
    defaults: dict[str, object] = {
        "gmc_number": "1234567",
        "given_name": "Priya",
        "family_name": "Patel",
        "status": ListStatus.INCLUDED,
        "cct_date": None,
        "gp_register_on": date(2006, 3, 31),
        "under_training_supervision": False,
        "training_programme_start": None,
        "designated_body": None,
        "public_list_visible": None,
        "public_list_checked_on": None,
        "conditions": None,
        "suspension_review_on": None,
    }
    return Performer(**(defaults | values))


def codes(result: object) -> list[tuple[str, str]]:
    return [(r.code.value, r.effect.value) for r in result.reasons]  # type: ignore[attr-defined]


def test_months_are_calendar_months_clamped_to_the_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    # 5 Jan + 3 months = 5 Apr: the first day a registrar not yet included may not work.
    assert registrar_window_ends(date(2026, 1, 5)) == date(2026, 4, 5)


def test_an_unknown_gmc_number_cannot_start() -> None:
    result = answer(None, [], on=ON, today=ON)
    assert result.can_start is False
    assert codes(result) == [("not_on_list", "blocks")]


def test_a_pre_2005_gp_on_the_gp_register_without_a_cct_can_start() -> None:
    result = answer(performer(), [], on=ON, today=ON)
    assert result.can_start is True
    assert codes(result) == [("included", "allows"), ("on_gp_register", "allows")]


def test_an_included_gp_off_the_gp_register_cannot_start() -> None:
    result = answer(performer(gp_register_on=None, cct_date=date(2012, 8, 1)), [], on=ON, today=ON)
    assert result.can_start is False
    assert ("not_on_gp_register", "blocks") in codes(result)


@pytest.mark.parametrize(
    ("training_start", "can_start", "code"),
    [
        # Started 5 Jan 2026: on 2 Mar 2026 in month 2; the window runs to 4 Apr.
        (date(2026, 1, 5), True, ReasonCode.REGISTRAR_WINDOW),
        # Started 1 Nov 2025: the window ended on 1 Feb 2026; on 2 Mar in month 5.
        (date(2025, 11, 1), False, ReasonCode.REGISTRAR_WINDOW_ENDED),
        # Started 2 Dec 2025: three months end on 2 Mar 2026, the day asked: month 4.
        (date(2025, 12, 2), False, ReasonCode.REGISTRAR_WINDOW_ENDED),
    ],
)
def test_a_pending_registrar_within_and_past_three_months(
    training_start: date, can_start: bool, code: ReasonCode
) -> None:
    registrar = performer(
        status=ListStatus.PENDING,
        under_training_supervision=True,
        gp_register_on=None,
        training_programme_start=training_start,
    )
    result = answer(registrar, [], on=ON, today=ON)
    assert result.can_start is can_start
    assert code in [r.code for r in result.reasons]


def test_a_designated_body_doctor_from_27_may_2024_and_not_before() -> None:
    doctor = performer(status=ListStatus.PENDING, gp_register_on=None, designated_body="A Trust")
    assert answer(doctor, [], on=date(2024, 5, 27), today=ON).can_start is True
    assert answer(doctor, [], on=date(2024, 5, 26), today=ON).can_start is False


def test_suspension_blocks_and_says_when_it_is_reviewed() -> None:
    suspended = performer(status=ListStatus.SUSPENDED, suspension_review_on=date(2026, 4, 1))
    result = answer(suspended, [], on=ON, today=ON)
    assert result.can_start is False
    assert result.reasons[0].detail == "Suspended from the list (reg 12); next review 2026-04-01."


def test_conditions_and_not_being_visible_are_notes_and_open_requests_show_their_age() -> None:
    gp = performer(
        status=ListStatus.INCLUDED_WITH_CONDITIONS,
        conditions="No minor surgery",
        public_list_visible=False,
        public_list_checked_on=date(2026, 2, 20),
    )
    request = ChangeRequest(
        reference="CR-0000000001",
        kind=ChangeKind.INCLUSION,
        gmc_number="1234567",
        ods_code="A81001",
        submitted_on=date(2026, 1, 5),
        complete_on=date(2026, 1, 5),
    )
    result = answer(gp, [request], on=ON, today=ON)
    assert result.can_start is True
    assert [r.effect for r in result.reasons] == [
        Effect.ALLOWS,
        Effect.NOTE,
        Effect.ALLOWS,
        Effect.NOTE,
        Effect.NOTE,
    ]
    # 5 Jan to 2 Mar: 26 + 28 + 2 = 56 days; due 12 weeks (84 days) from 5 Jan = 30 Mar.
    assert result.reasons[-1].detail == (
        "inclusion request CR-0000000001: complete on 2026-01-05, 56 days open, decision due "
        "by 2026-03-30."
    )
