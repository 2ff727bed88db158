"""A practice's to-do list and cash-flow forecast, against dates written out by hand from the
published deadlines: QOF sign-off 31 May after the year (assumed), estimates by 1 March before
the year, Type 1/2 certificates 28 February a year in arrears, locum forms by the 7th, approved
claims by the end of the month after approval, escalation on day 41, QOF achievement by 30
June, PCSE's main run on the month's last working day."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from payments.models import (
    ClaimState,
    Component,
    DeadlineKind,
    DeadlineRule,
    DeclarationState,
    Dispute,
    PerformerMembership,
    PracticeClaim,
    QofDeclaration,
)
from payments.planning import rules
from payments.planning.rules import ToDoKind
from payments.rates import RateBook
from payments.schedule.rules import Basis, Expectation, PracticeFacts
from pcse_kit.testing import Token, graphql

if TYPE_CHECKING:
    import httpx

BOOK = RateBook(
    [],
    [
        DeadlineRule(kind=DeadlineKind.QOF_DECLARATION, from_year=2013, month=5, day=31,
                     year_offset=1, source="QOF sign-off (assumed)"),
        DeadlineRule(kind=DeadlineKind.PENSION_ESTIMATE, from_year=2015, month=3, day=1,
                     year_offset=0, source="PCSE estimate"),
        DeadlineRule(kind=DeadlineKind.PENSION_CERTIFICATE, from_year=2015, month=2, day=28,
                     year_offset=2, source="PCSE Type 1/2"),
        DeadlineRule(kind=DeadlineKind.QOF_ACHIEVEMENT, from_year=2013, month=6, day=30,
                     year_offset=1, source="QOF achievement by 30 June"),
    ],
)  # fmt: skip


def _facts(**fields: Any) -> PracticeFacts:
    return PracticeFacts(
        ods_code="A81001", directory=None, schedule_start=date(2025, 4, 1), **fields
    )


MEMBERS = [
    PerformerMembership(gmc_number="1111111", ods_code="A81001", role="partner",
                        start_date=date(2020, 4, 1), end_date=None),
    PerformerMembership(gmc_number="2222222", ods_code="A81001", role="salaried",
                        start_date=date(2024, 4, 1), end_date=date(2026, 6, 30)),
]  # fmt: skip
CLAIM = PracticeClaim(
    ods_code="A81001", reference="ES-2026-10", component=Component.ENHANCED_SERVICE,
    description="Immunisations, October", covers_from=date(2026, 10, 1),
    covers_to=date(2026, 10, 31), amount_pence=1_234_50, claimed_on=date(2026, 11, 5),
    approved_on=date(2026, 11, 20), state=ClaimState.APPROVED,
)  # fmt: skip


def test_the_to_do_list_on_3_december_2026_for_the_next_90_days() -> None:
    facts = _facts(
        memberships=MEMBERS,
        claims=[CLAIM],
        declarations=[
            QofDeclaration(ods_code="A81001", financial_year=2025, achievement_pence=1,
                           state=DeclarationState.AWAITING_PROVIDER_APPROVAL)
        ],
    )  # fmt: skip
    dispute = Dispute(
        reference="PAY-1", subject="Claim not paid", raised_on=date(2026, 11, 1),
        resolved_at=None, escalated_on=None, cas_reference=None,
    )  # fmt: skip
    items = rules.to_do(
        facts, BOOK, certificates=[], disputes=[(dispute, 40)], today=date(2026, 12, 3), days=90
    )
    # 3 Dec 2026 + 90 days = 3 Mar 2027.
    assert [(i.due_on, i.kind, i.reference, i.overdue) for i in items] == [
        # 2025/26 sign-off was due 31 May 2026 and is still awaiting the practice.
        (date(2026, 5, 31), ToDoKind.QOF_DECLARATION, None, True),
        (date(2026, 12, 7), ToDoKind.LOCUM_FORMS, None, False),
        # 1 Nov + 41 days = 12 Dec.
        (date(2026, 12, 12), ToDoKind.DISPUTE_ESCALATION, "PAY-1", False),
        # Approved 20 Nov: by the end of December.
        (date(2026, 12, 31), ToDoKind.CLAIM_PAYMENT, "ES-2026-10", False),
        (date(2027, 1, 7), ToDoKind.LOCUM_FORMS, None, False),
        (date(2027, 2, 7), ToDoKind.LOCUM_FORMS, None, False),
        # 2025/26 certificates by 28 Feb 2027: the partner's Type 1, the salaried GP's Type 2.
        (date(2027, 2, 28), ToDoKind.PENSION_CERTIFICATE, "1111111", False),
        (date(2027, 2, 28), ToDoKind.PENSION_CERTIFICATE, "2222222", False),
        # 2027/28 estimate by 1 Mar 2027, only for the GP still in post.
        (date(2027, 3, 1), ToDoKind.PENSION_ESTIMATE, "1111111", False),
    ]
    assert items[1].what == "Locum Forms A and B for locums paid in November 2026"
    assert items[1].action.endswith("<SD number>LOCNOV2026")
    assert "Record PCSE's CAS reference" in items[2].action
    assert items[6].what.startswith("Type 1 certificate 2025/26")
    assert items[7].what.startswith("Type 2 certificate 2025/26")
    assert items[0].source == "QOF sign-off (assumed)"


def _expectation(component: Component, month: date, due: date, pence: int) -> Expectation:
    return Expectation(
        ods_code="A81001", component=component, covers_from=month, covers_to=month,
        due_on=due, amount_pence=pence, derivation=(("Rule", "hand-written"),),
    )  # fmt: skip


def test_the_forecast_groups_by_the_run_that_pays_and_says_what_is_not_known_yet() -> None:
    expectations = [
        # Already paid: not forecast.
        _expectation(Component.GLOBAL_SUM, date(2026, 11, 1), date(2026, 11, 30), 10_278_33),
        # 31 Dec 2026 is a Thursday: paid that day.
        _expectation(Component.GLOBAL_SUM, date(2026, 12, 1), date(2026, 12, 31), 10_278_33),
        _expectation(
            Component.EMPLOYEE_SUPERANNUATION, date(2026, 12, 1), date(2026, 12, 31), -812_50
        ),
        # 31 Jan 2027 is a Sunday: the main run is on Friday 29 January.
        _expectation(Component.GLOBAL_SUM, date(2027, 1, 1), date(2027, 1, 31), 10_278_33),
        # 28 Feb 2027 is a Sunday: Friday 26 February.
        _expectation(Component.GLOBAL_SUM, date(2027, 2, 1), date(2027, 2, 28), 10_278_33),
        # 31 Mar 2027 is a Wednesday.
        _expectation(Component.GLOBAL_SUM, date(2027, 3, 1), date(2027, 3, 31), 10_278_33),
        # Beyond the three months after December.
        _expectation(Component.GLOBAL_SUM, date(2027, 4, 1), date(2027, 4, 30), 10_278_33),
    ]
    days = rules.forecast(expectations, _facts(), BOOK, today=date(2026, 12, 3), months=3)
    assert [(d.pay_on, d.net_pence, d.complete) for d in days] == [
        (date(2026, 12, 31), 9_465_83, True),  # 10,278.33 - 812.50
        (date(2027, 1, 29), 10_278_33, True),
        (date(2027, 2, 26), 10_278_33, True),
        (date(2027, 3, 31), 10_278_33, True),
    ]


def test_the_spring_forecast_holds_the_june_qof_balance_and_the_april_pension_balancing() -> None:
    expectations = [
        _expectation(
            Component.EMPLOYEE_SUPERANNUATION, date(2027, 4, 1), date(2027, 4, 30), -812_50
        ),
    ]
    days = rules.forecast(expectations, _facts(), BOOK, today=date(2027, 4, 10), months=3)
    # 30 Apr 2027 is a Friday; 30 Jun 2027 a Wednesday. Until 31 Jul 2027.
    assert [(d.pay_on, d.net_pence, d.complete) for d in days] == [
        (date(2027, 4, 30), -812_50, False),
        (date(2027, 6, 30), 0, False),
    ]
    balancing = days[0].items[1]
    assert balancing.amount_pence is None
    assert balancing.what.startswith("Pension year-end balancing for 2025/26")
    [qof] = days[1].items
    assert (qof.component, qof.amount_pence) == (Component.QOF_ACHIEVEMENT, None)
    assert qof.what.startswith("QOF achievement balance 2026/27")

    # Once approved, the schedule's own balance replaces the placeholder.
    approved = Expectation(
        ods_code="A81001", component=Component.QOF_ACHIEVEMENT, covers_from=date(2026, 4, 1),
        covers_to=date(2027, 3, 31), due_on=date(2027, 6, 30), amount_pence=31_000_00,
        derivation=(("Rule", "hand-written"),), basis=Basis.BALANCE,
    )  # fmt: skip
    days = rules.forecast([approved], _facts(), BOOK, today=date(2027, 4, 10), months=3)
    assert [(d.pay_on, d.net_pence, d.complete) for d in days] == [
        (date(2027, 6, 30), 31_000_00, True)
    ]


async def test_the_to_do_list_and_forecast_through_graphql(
    client: httpx.AsyncClient, token: Token, make_practice: Any
) -> None:
    await make_practice(ods_code="A81001", lmc_code="kernow")
    practice = token("practice", ["A81001"])
    body = await graphql(
        client,
        '{ practicePayments(odsCode: "A81001") { toDo { dueOn kind } forecast { payOn net } } }',
        token=practice,
    )
    assert "errors" not in body, body
    kinds = {i["kind"] for i in body["data"]["practicePayments"]["toDo"]}
    assert "LOCUM_FORMS" in kinds
    refused = await graphql(
        client, '{ practicePayments(odsCode: "A81001") { toDo(days: 400) { dueOn } } }',
        token=practice,
    )  # fmt: skip
    assert [e["extensions"]["field"] for e in refused["errors"]] == ["days"]
    accountant = await graphql(
        client, '{ practicePayments(odsCode: "A81001") { toDo { dueOn } } }',
        token=token("accountant", [], subject="acct-none"),
    )  # fmt: skip
    assert [e["extensions"]["code"] for e in accountant["errors"]] == ["FORBIDDEN"]
