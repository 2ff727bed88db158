"""The expected schedule: what a practice should receive (or have deducted), when, and why.

Derived, never stored: from the practice directory (list size, LMC), the rates in force, QOF
declarations, trainee placements and pension estimates. Every expectation carries the steps
of its derivation, so a practice can check it and quote it in a claim.

Monthly expectations start with the first statement PCSE holds for the practice (nothing is
known to have been due before) and run to the month of the day asked about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from payments.models import Component, DeadlineKind, DeclarationState, RateKind
from payments.rates import (
    MONTHS_A_YEAR,
    add_months,
    divide,
    financial_year,
    month_end,
    months_between,
    per_patient,
    percent_of,
    pounds_text,
    year_label,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from decimal import Decimal

    from payments.models import (
        PensionEstimate,
        PerformerMembership,
        QofDeclaration,
        TraineePlacement,
    )
    from payments.rates import RateBook

APPROVED = frozenset({DeclarationState.APPROVED, DeclarationState.PAID})
PENSION_COMPONENTS = frozenset(
    {
        Component.EMPLOYEE_SUPERANNUATION,
        Component.EMPLOYER_SUPERANNUATION,
        Component.PENSION_ADMIN_LEVY,
    }
)
PAYCODES = {
    Component.GLOBAL_SUM: "GSUM",
    Component.QOF_ASPIRATION: "QOFASP",
    Component.QOF_ACHIEVEMENT: "QOFACH",
    Component.TRAINEE_REIMBURSEMENT: "TRAINEE",
    Component.LMC_STATUTORY_LEVY: "LMCSTAT",
    Component.LMC_VOLUNTARY_LEVY: "LMCVOL",
    Component.EMPLOYEE_SUPERANNUATION: "SUPEREE",
    Component.EMPLOYER_SUPERANNUATION: "SUPERER",
    Component.PENSION_ADMIN_LEVY: "SUPADMIN",
}

Derivation = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Expectation:
    """One amount a practice should see on a statement, and by when."""

    ods_code: str
    component: Component
    covers_from: date
    covers_to: date
    due_on: date
    amount_pence: int
    """Negative for a deduction, like a line."""
    derivation: Derivation
    gmc_number: str | None = None
    declaration_state: DeclarationState | None = None
    pensionable_pence: int | None = None
    """For a pension deduction: the month's pensionable pay the rate applies to."""
    rate: Decimal | None = field(default=None, compare=False)

    @property
    def paycode(self) -> str:
        return PAYCODES[self.component]

    @property
    def key(self) -> tuple[Component, date, str | None]:
        return (self.component, self.covers_from, self.gmc_number)

    @property
    def is_pension(self) -> bool:
        return self.component in PENSION_COMPONENTS


@dataclass(frozen=True)
class PracticeFacts:
    """What the schedule of one practice is derived from."""

    ods_code: str
    list_size: int | None
    """None while the practice is not (yet) in this service's copy of the directory."""
    lmc_code: str | None
    schedule_start: date | None
    """The period of the first statement PCSE holds for the practice."""
    declarations: Sequence[QofDeclaration] = ()
    placements: Sequence[TraineePlacement] = ()
    estimates: Sequence[PensionEstimate] = ()
    pay_across_posts: Mapping[tuple[str, int], int] = field(default_factory=dict)
    """(GMC number, year) to the performer's pensionable pay across all posts: sets the tier."""
    memberships: Sequence[PerformerMembership] = ()


def expected(facts: PracticeFacts, book: RateBook, *, until: date) -> list[Expectation]:
    """Every expectation of the practice from its first statement to ``until``'s month."""
    if facts.schedule_start is None:
        return []
    months = months_between(facts.schedule_start, until)
    found: list[Expectation] = []
    found += _global_sum(facts, book, months)
    found += _qof_aspiration(facts, book, months)
    found += _lmc_levies(facts, book, months)
    found += _qof_achievement(facts, book, start=facts.schedule_start)
    found += _trainees(facts, months)
    found += _pensions(facts, book, months)
    return sorted(found, key=lambda e: (e.covers_from, e.component.value, e.gmc_number or ""))


def _monthly(
    facts: PracticeFacts,
    component: Component,
    month: date,
    amount: int,
    derivation: list[tuple[str, str]],
    **extra: object,
) -> Expectation:
    due = month_end(month)
    return Expectation(
        ods_code=facts.ods_code,
        component=component,
        covers_from=month,
        covers_to=due,
        due_on=due,
        amount_pence=amount,
        derivation=(*derivation, ("Due", f"{due.isoformat()}, the month's main payment")),
        **extra,  # type: ignore[arg-type]
    )


def _list_size(facts: PracticeFacts) -> tuple[str, str]:
    return ("List size", f"{facts.list_size:,} registered patients (practice directory)")


def _global_sum(facts: PracticeFacts, book: RateBook, months: list[date]) -> list[Expectation]:
    if facts.list_size is None:
        return []
    found = []
    for month in months:
        rate = book.rate(RateKind.GLOBAL_SUM, month)
        if rate is None:
            continue
        annual = per_patient(rate.value, facts.list_size)
        amount = divide(annual, MONTHS_A_YEAR)
        found.append(
            _monthly(
                facts,
                Component.GLOBAL_SUM,
                month,
                amount,
                [
                    _list_size(facts),
                    ("Global sum rate", rate.describe()),
                    ("A year", f"{pounds_text(annual)} = list size x rate"),
                    ("This month", f"{pounds_text(amount)} = a year / 12"),
                ],
            )
        )
    return found


def _approved(facts: PracticeFacts, year: int) -> QofDeclaration | None:
    for declaration in facts.declarations:
        if declaration.financial_year == year and declaration.state in APPROVED:
            return declaration
    return None


def _qof_aspiration(facts: PracticeFacts, book: RateBook, months: list[date]) -> list[Expectation]:
    found = []
    for month in months:
        year = financial_year(month)
        last_year = _approved(facts, year - 1)
        share = book.rate(RateKind.QOF_ASPIRATION, month)
        if last_year is None or share is None:
            continue
        annual = percent_of(last_year.achievement_pence, share.value)
        amount = divide(annual, MONTHS_A_YEAR)
        found.append(
            _monthly(
                facts,
                Component.QOF_ASPIRATION,
                month,
                amount,
                [
                    (
                        f"QOF achievement {year_label(year - 1)}",
                        f"{pounds_text(last_year.achievement_pence)} (declaration "
                        f"{last_year.state.value}, approved {last_year.approved_on})",
                    ),
                    ("Aspiration share", share.describe()),
                    ("A year", f"{pounds_text(annual)} = achievement x share"),
                    ("This month", f"{pounds_text(amount)} = a year / 12, paid monthly"),
                ],
            )
        )
    return found


def _lmc_levies(facts: PracticeFacts, book: RateBook, months: list[date]) -> list[Expectation]:
    if facts.list_size is None or facts.lmc_code is None:
        return []
    found = []
    for kind, component in (
        (RateKind.LMC_STATUTORY, Component.LMC_STATUTORY_LEVY),
        (RateKind.LMC_VOLUNTARY, Component.LMC_VOLUNTARY_LEVY),
    ):
        for month in months:
            # PCSE deducts levies only for LMCs that asked it to: no rate, no deduction.
            rate = book.rate(kind, month, scope=facts.lmc_code)
            if rate is None:
                continue
            annual = per_patient(rate.value, facts.list_size)
            amount = -divide(annual, MONTHS_A_YEAR)
            found.append(
                _monthly(
                    facts,
                    component,
                    month,
                    amount,
                    [
                        _list_size(facts),
                        (f"{facts.lmc_code} levy rate", rate.describe()),
                        ("A year", f"{pounds_text(annual)} = list size x rate"),
                        ("This month", f"{pounds_text(-amount)} deducted = a year / 12"),
                    ],
                )
            )
    return found


def _qof_achievement(facts: PracticeFacts, book: RateBook, *, start: date) -> list[Expectation]:
    found = []
    for declaration in facts.declarations:
        if declaration.state not in APPROVED or declaration.approved_on is None:
            continue
        year = declaration.financial_year
        deadline = book.deadline(DeadlineKind.QOF_ACHIEVEMENT, year)
        if deadline is None:
            continue
        due = deadline
        derivation = [
            (
                "Declaration",
                f"{year_label(year)}, achievement as at 31 March {year + 1}: "
                f"{pounds_text(declaration.achievement_pence)}",
            ),
            ("CQRS state", declaration.state.value),
            ("Approved", declaration.approved_on.isoformat()),
            ("Contractual date", f"{deadline.isoformat()} (end of June after the year)"),
        ]
        if declaration.approved_on > deadline:
            due = month_end(add_months(declaration.approved_on, 1))
            derivation.append(("Approved late", f"due in the next payment run, by {due}"))
        if due < start:
            continue
        found.append(
            Expectation(
                ods_code=facts.ods_code,
                component=Component.QOF_ACHIEVEMENT,
                covers_from=date(year, 4, 1),
                covers_to=date(year + 1, 3, 31),
                due_on=due,
                amount_pence=declaration.achievement_pence,
                derivation=(*derivation, ("Due", due.isoformat())),
                declaration_state=declaration.state,
            )
        )
    return found


def _trainees(facts: PracticeFacts, months: list[date]) -> list[Expectation]:
    found = []
    for placement in facts.placements:
        for month in months:
            if not placement.starts_on <= month_end(month) or placement.ends_on < month:
                continue
            found.append(
                _monthly(
                    facts,
                    Component.TRAINEE_REIMBURSEMENT,
                    month,
                    placement.monthly_pence,
                    [
                        (
                            "Placement",
                            f"GP registrar {placement.gmc_number}, "
                            f"{placement.starts_on} to {placement.ends_on}",
                        ),
                        ("Monthly reimbursement", pounds_text(placement.monthly_pence)),
                    ],
                    gmc_number=placement.gmc_number,
                )
            )
    return found


def _works_there(facts: PracticeFacts, gmc_number: str, month: date) -> bool:
    """Whether the performer held a post at the practice in ``month``, as far as we know.

    With no membership on record (the directory copy may lag) the estimate is taken at its
    word; once memberships are known, months after the last one ended expect nothing.
    """
    known = [m for m in facts.memberships if m.gmc_number == gmc_number]
    if not known:
        return True
    return any(
        m.start_date <= month_end(month) and (m.end_date is None or m.end_date >= month)
        for m in known
    )


def _pensions(facts: PracticeFacts, book: RateBook, months: list[date]) -> list[Expectation]:
    found = []
    for estimate in facts.estimates:
        year = estimate.financial_year
        year_start = date(year, 4, 1)
        total = facts.pay_across_posts.get(
            (estimate.gmc_number, year), estimate.pensionable_pay_pence
        )
        tier = book.tier(total, year_start)
        employer = book.rate(RateKind.EMPLOYER, year_start)
        levy = book.rate(RateKind.ADMIN_LEVY, year_start)
        monthly_pay = divide(estimate.pensionable_pay_pence, MONTHS_A_YEAR)
        basis = [
            (
                "Estimate",
                f"{year_label(year)} pensionable pay at {facts.ods_code}: "
                f"{pounds_text(estimate.pensionable_pay_pence)} "
                f"(submitted {estimate.submitted_on})",
            ),
            ("All posts", f"{pounds_text(total)} across all posts sets the tier"),
            ("Monthly pensionable pay", f"{pounds_text(monthly_pay)} = estimate / 12"),
        ]
        rates = (
            (Component.EMPLOYEE_SUPERANNUATION, tier, "Employee tier"),
            (Component.EMPLOYER_SUPERANNUATION, employer, "Employer rate"),
            (Component.PENSION_ADMIN_LEVY, levy, "Admin levy"),
        )
        for month in months:
            if financial_year(month) != year or not _works_there(facts, estimate.gmc_number, month):
                continue
            for component, rate, label in rates:
                if rate is None:
                    continue
                amount = -percent_of(monthly_pay, rate.value)
                found.append(
                    _monthly(
                        facts,
                        component,
                        month,
                        amount,
                        [
                            *basis,
                            (label, rate.describe()),
                            ("This month", f"{pounds_text(-amount)} deducted = pay x rate"),
                        ],
                        gmc_number=estimate.gmc_number,
                        pensionable_pence=monthly_pay,
                        rate=rate.value,
                    )
                )
    return found
