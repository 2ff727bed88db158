"""Registrations: the export format, and what detection finds on a fixed day, each case written
out from the rules (the README's records rules table) with its dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pytest
from nhs_number.validate import is_valid
from pcse_kit.auth import Principal, Role
from records import detection
from records.models import (
    HarmReview,
    Incident,
    IncidentKind,
    IncidentStatus,
    MovementReason,
    MovementStatus,
    Place,
    Registration,
    RegistrationEvent,
    RegistrationReason,
)
from records.registrations import FileRejected, Rules, fp69_deduction_due, parse
from sqlalchemy import select

if TYPE_CHECKING:
    from fastapi import FastAPI

S = MovementStatus
E = RegistrationEvent
R = RegistrationReason
# Monday 2 March 2026. Six weeks before: Monday 19 January. The 20 working days a transfer
# deduction waits: a deduction on Sunday 1 February has had them by Friday 27 February; one on
# Monday 2 February has not (its 20th working day is today).
TODAY = date(2026, 3, 2)
OPERATOR = Principal(subject="detection-test", role=Role.OPERATOR, scope=frozenset({"records"}))
PRACTICE = "A81001"
ELSEWHERE = "B82002"
# Test-range NHS numbers (999 ...), each with its modulus-11 check digit: 999 000 002 weighs
# 9x10 + 9x9 + 9x8 + 2x2 = 247; 247 mod 11 = 5; 11 - 5 = 6, so 999 000 0026.
PATIENTS = [
    "9434765919", "9990000026", "9990001111", "9990002037", "9990003068", "9990004048",
    "9990005079", "9990006083", "9990007055", "9990009031", "9990011001", "9990012016",
]  # fmt: skip


def test_the_numbers_used_here_are_valid_nhs_numbers() -> None:
    assert all(is_valid(number) for number in PATIENTS)
    assert len(set(PATIENTS)) == len(PATIENTS)


async def add(app: FastAPI, *rows: tuple[str, str, E, date, R, dict[str, Any]]) -> None:
    async with app.state.sessionmaker.begin() as session:
        for ods, nhs, event, on, reason, extra in rows:
            session.add(
                Registration(
                    ods_code=ods,
                    nhs_number=nhs,
                    event=event,
                    effective_on=on,
                    reason=reason,
                    recorded_by="test",
                    **extra,
                )
            )


async def detect(app: FastAPI, today: date = TODAY) -> detection.Detected:
    async with app.state.sessionmaker.begin() as session:
        return await detection.detect(session, OPERATOR, today=today, rules=Rules())


async def found(app: FastAPI) -> dict[str, list[tuple[str, str]]]:
    """Incidents by the patient they are about: (kind, status)."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(Registration.nhs_number, Incident.kind, Incident.status).join(
                Incident, Incident.registration_id == Registration.id
            )
        )
        result: dict[str, list[tuple[str, str]]] = {}
        for nhs, kind, status in rows:
            result.setdefault(nhs, []).append((kind.value, status.value))
    return result


def test_fp69_notice_is_six_months_or_three_for_flags_from_1_october_2025() -> None:
    assert fp69_deduction_due(date(2025, 8, 31)) == date(2026, 2, 28)  # no 31 February
    assert fp69_deduction_due(date(2025, 9, 30)) == date(2026, 3, 30)
    assert fp69_deduction_due(date(2025, 10, 1)) == date(2026, 1, 1)
    assert fp69_deduction_due(date(2025, 11, 30)) == date(2026, 2, 28)


def test_the_grace_for_a_transfers_evidence_ends_after_twenty_working_days() -> None:
    assert Rules().transfer_grace_cutoff(TODAY) == date(2026, 2, 1)
    assert Rules().record_due_before(TODAY) == date(2026, 1, 19)


@pytest.mark.usefixtures("client")  # empties the tables afterwards
async def test_each_deduction_is_explained_or_an_incorrect_removal(
    app: FastAPI, make_movement: Any
) -> None:
    p = PATIENTS
    # p[8]'s record moved out 26 days after the deduction (within 30); p[9]'s 31 days after.
    for patient, requested in ((p[8], datetime(2026, 2, 5, 10, tzinfo=UTC)),
                               (p[9], datetime(2026, 2, 10, 10, tzinfo=UTC))):  # fmt: skip
        await make_movement(sender=PRACTICE, receiver=ELSEWHERE, nhs_number=patient,
                            requested_at=requested)  # fmt: skip
    await add(
        app,
        # A transfer on 1 February, nothing behind it, its grace over: incorrect.
        (PRACTICE, p[0], E.DEDUCTED, date(2026, 2, 1), R.TRANSFER, {}),
        # On 2 February: still within its 20 working days.
        (PRACTICE, p[1], E.DEDUCTED, date(2026, 2, 2), R.TRANSFER, {}),
        # Flagged 31 August 2025: six months' notice, to 28 February 2026.
        (PRACTICE, p[2], E.DEDUCTED, date(2026, 2, 27), R.FP69,
         {"fp69_flagged_on": date(2025, 8, 31)}),
        (PRACTICE, p[3], E.DEDUCTED, date(2026, 2, 28), R.FP69,
         {"fp69_flagged_on": date(2025, 8, 31)}),
        # Flagged 1 October 2025: three months, to 1 January 2026; flagged 30 September: six.
        (PRACTICE, p[4], E.DEDUCTED, date(2026, 1, 1), R.FP69,
         {"fp69_flagged_on": date(2025, 10, 1)}),
        (PRACTICE, p[5], E.DEDUCTED, date(2026, 1, 1), R.FP69,
         {"fp69_flagged_on": date(2025, 9, 30)}),
        # An immediate removal the practice asked for the day before; one it asked for after.
        (PRACTICE, p[6], E.DEDUCTED, date(2026, 2, 10), R.IMMEDIATE_REMOVAL,
         {"removal_requested_on": date(2026, 2, 9)}),
        (PRACTICE, p[7], E.DEDUCTED, date(2026, 2, 10), R.REMOVAL,
         {"removal_requested_on": date(2026, 2, 11)}),
        # Transfers on 10 January, the record moving out 26 and 31 days later.
        (PRACTICE, p[8], E.DEDUCTED, date(2026, 1, 10), R.TRANSFER, {}),
        (PRACTICE, p[9], E.DEDUCTED, date(2026, 1, 10), R.TRANSFER, {}),
        # A transfer on 10 January, the patient registering elsewhere on 9 February (30 days).
        (PRACTICE, p[10], E.DEDUCTED, date(2026, 1, 10), R.TRANSFER, {}),
        (ELSEWHERE, p[10], E.REGISTERED, date(2026, 2, 9), R.TRANSFER, {}),
        # Emigration: explained.
        (PRACTICE, p[11], E.DEDUCTED, date(2026, 2, 20), R.EMIGRATION, {}),
    )  # fmt: skip

    result = await detect(app)

    incorrect = [("incorrect_removal", "open")]
    assert {n: v for n, v in (await found(app)).items() if v[0][0] == "incorrect_removal"} == {
        p[0]: incorrect,
        p[2]: incorrect,
        p[5]: incorrect,
        p[7]: incorrect,
        p[9]: incorrect,
    }
    assert result.opened["incorrect_removal"] == 5
    # Nothing changed: found again, nothing new.
    again = await detect(app)
    assert sum(again.opened.values()) == 0


@pytest.mark.usefixtures("client")  # empties the tables afterwards
async def test_a_patient_registered_six_weeks_with_nothing_on_its_way(
    app: FastAPI, make_movement: Any
) -> None:
    p = PATIENTS
    # p[2]'s record is on its way: a movement to the practice with its label.
    await make_movement(sender=ELSEWHERE, receiver=PRACTICE, nhs_number=p[2],
                        requested_at=datetime(2026, 1, 12, 9, tzinfo=UTC),
                        label_number="PCS00000001", label_issued_on=date(2026, 1, 30))  # fmt: skip
    # p[3]'s movement is only requested, never labelled: not on its way.
    await make_movement(sender=ELSEWHERE, receiver=PRACTICE, nhs_number=p[3],
                        requested_at=datetime(2026, 1, 12, 9, tzinfo=UTC))  # fmt: skip
    await add(
        app,
        # 19 January: six weeks before today.
        (PRACTICE, p[0], E.REGISTERED, date(2026, 1, 19), R.TRANSFER, {}),
        # 20 January: not yet.
        (PRACTICE, p[1], E.REGISTERED, date(2026, 1, 20), R.TRANSFER, {}),
        (PRACTICE, p[2], E.REGISTERED, date(2026, 1, 12), R.TRANSFER, {}),
        (PRACTICE, p[3], E.REGISTERED, date(2026, 1, 12), R.TRANSFER, {}),
        # New to the NHS: nothing to come.
        (PRACTICE, p[4], E.REGISTERED, date(2026, 1, 5), R.NEW_REGISTRATION, {}),
        # Registered here, then at B82002: no longer this practice's to wait for.
        (PRACTICE, p[5], E.REGISTERED, date(2026, 1, 5), R.TRANSFER, {}),
        (ELSEWHERE, p[5], E.REGISTERED, date(2026, 2, 25), R.NEW_REGISTRATION, {}),
        # Removed here in error on 5 January and back on 8 January: the record never left.
        (PRACTICE, p[6], E.DEDUCTED, date(2026, 1, 5), R.OTHER, {}),
        (PRACTICE, p[6], E.REGISTERED, date(2026, 1, 8), R.TRANSFER, {}),
    )  # fmt: skip

    await detect(app)

    assert await found(app) == {
        p[0]: [("record_not_received", "open")],
        p[3]: [("record_not_received", "open")],
        # The removal in error, put right three days later.
        p[6]: [("incorrect_removal", "resolved")],
    }
    async with app.state.sessionmaker() as session:
        removal = await session.scalar(
            select(Incident).where(Incident.kind == IncidentKind.INCORRECT_REMOVAL)
        )
    assert removal is not None
    assert (removal.remedied_on, removal.outcome) == (date(2026, 1, 8), removal.outcome)
    assert removal.outcome is not None
    assert removal.outcome.value == "re_registered"

    # On 2 March PCSE opens a movement of p[3]'s record, in progress: its incident clears.
    number = await make_movement(sender=ELSEWHERE, receiver=PRACTICE, nhs_number=p[3],
                                 requested_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
                                 status=S.IN_PROGRESS)  # fmt: skip
    assert number
    result = await detect(app, date(2026, 3, 3))
    assert result.resolved == 1
    assert (await found(app))[p[3]] == [("record_not_received", "resolved")]


@pytest.mark.usefixtures("client")  # empties the tables afterwards
async def test_a_registered_patients_record_in_storage_is_archived_in_error(
    app: FastAPI, make_movement: Any
) -> None:
    p = PATIENTS
    # Each record went to central storage on emigration, delivered there in 2025.
    for patient in (p[0], p[1]):
        await make_movement(
            sender=ELSEWHERE, receiver=None, receiver_place=Place.CENTRAL_STORAGE,
            nhs_number=patient, status=S.DELIVERED, reason=MovementReason.EMIGRATION,
            requested_at=datetime(2025, 6, 2, 9, tzinfo=UTC),
            collected_at=datetime(2025, 6, 9, 9, tzinfo=UTC),
            delivered_at=datetime(2025, 6, 12, 9, tzinfo=UTC),
        )  # fmt: skip
    await add(
        app,
        (PRACTICE, p[0], E.REGISTERED, date(2026, 1, 19), R.TRANSFER, {}),  # six weeks
        (PRACTICE, p[1], E.REGISTERED, date(2026, 1, 20), R.TRANSFER, {}),  # not yet
    )

    result = await detect(app)

    assert result.opened == {
        "erroneous_archiving": 1,
        "record_not_received": 0,
        "incorrect_removal": 0,
    }
    assert result.harm_reviews_added == 1
    async with app.state.sessionmaker() as session:
        [(incident, review)] = (
            await session.execute(
                select(Incident, HarmReview).join(HarmReview, HarmReview.incident_id == Incident.id)
            )
        ).all()
    assert (incident.kind, incident.ods_code, incident.status) == (
        IncidentKind.ERRONEOUS_ARCHIVING,
        PRACTICE,
        IncidentStatus.OPEN,
    )
    # Due 30 days from today: 1 April 2026.
    assert (review.nhs_number, review.due_on) == (p[0], date(2026, 4, 1))


def test_an_export_is_checked_whole_and_keeps_no_date_of_birth() -> None:
    text = (
        "\ufeffnhs_number,event,effective_on,reason,fp69_flagged_on,date_of_birth\n"
        "943 476 5919,deducted,2026-02-03,fp69,2025-11-03,2008-02-04\n"
        "9990000026,deducted,2026-02-03,fp69,2025-11-03,2008-02-03\n"
    )
    parsed = parse(text, today=TODAY)
    # 4 February 2008: 17 on 3 February 2026; 3 February 2008: 18 that day.
    assert [(r.nhs_number, r.under_18) for r in parsed.rows] == [
        ("9434765919", True),
        ("9990000026", False),
    ]
    assert not hasattr(parsed.rows[0], "date_of_birth")


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("nhs_number,event,effective_on\n", [(1, "reason")]),
        ("nhs_number,event,effective_on,reason,colour\n9434765919,registered,2026-01-05,"
         "transfer,red\n", [(1, "colour")]),
        ("nhs_number,event,effective_on,reason\n9434765919,registered,2026-01-05,fp69\n"
         "9434765919,deducted,2026-01-05,new_registration\n"
         "9434765919,deducted,2026-04-05,death\n9434765918,deducted,2026-01-05,death\n"
         "9434765919,deducted,5 Jan 2026,death\n", [(2, "reason"), (3, "reason"),
                                                    (4, "effective_on"), (5, "nhs_number"),
                                                    (6, "effective_on")]),
        ("nhs_number,event,effective_on,reason,removal_requested_on\n"
         "9434765919,deducted,2026-01-05,death,2026-01-04\n", [(2, "removal_requested_on")]),
        ("nhs_number,event,effective_on,reason\n", [(1, "csv")]),
    ],
)  # fmt: skip
def test_a_bad_export_is_refused_with_every_bad_row(
    text: str, problems: list[tuple[int, str]]
) -> None:
    with pytest.raises(FileRejected) as refused:
        parse(text, today=TODAY)
    assert [(e.row, e.field) for e in refused.value.errors] == problems
    assert "9434765918" not in str(refused.value.extensions)
