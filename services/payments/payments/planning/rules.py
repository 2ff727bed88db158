"""A practice's to-do list (deadlines with their source and what to do) and its cash-flow
forecast by pay date. Pure functions over the facts the schedule is worked out from."""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from payments.models import ClaimState, Component, DeadlineKind, DeclarationState
from payments.rates import (
    add_months,
    financial_year,
    is_working_day,
    month_end,
    month_start,
    pounds_text,
)
from payments.schedule.rules import PENSION_COMPONENTS, Basis, claim_due, claim_due_said

if TYPE_CHECKING:
    from collections.abc import Sequence

    from payments.models import Dispute, PensionCertificate
    from payments.rates import RateBook
    from payments.schedule.rules import Expectation, PracticeFacts


class ToDoKind(enum.StrEnum):
    QOF_DECLARATION = "qof_declaration"
    CLAIM_PAYMENT = "claim_payment"
    PENSION_ESTIMATE = "pension_estimate"
    PENSION_CERTIFICATE = "pension_certificate"
    LOCUM_FORMS = "locum_forms"
    DISPUTE_ESCALATION = "dispute_escalation"


LOCUM_SOURCE: Final = (
    "Locum Forms A and B and the contributions are due by the 7th of the month after the "
    "practice paid the locum (NASGP; PCSE locum guidance; DOMAIN.md §3)"
)
ESCALATION_SOURCE: Final = (
    "PCSE escalation process: an LMC may escalate a query unresolved for more than 40 days "
    "since it was first raised, with a CAS number (Pulse; DOMAIN.md §7)"
)
PENSION_BALANCING_SOURCE: Final = (
    "Year-end Type 1/2 reconciliation arrears and refunds arrive in the April-May pay run "
    "(PCSE end-of-year guidance; DOMAIN.md §2)"
)
CERTIFICATE_ROLES: Final = {"partner": "Type 1"}
"""A partner's certificate is a Type 1 (one per contract); everyone else's a Type 2."""


@dataclass(frozen=True)
class ToDo:
    due_on: date
    kind: ToDoKind
    what: str
    action: str
    source: str
    overdue: bool
    reference: str | None = None


def to_do(
    facts: PracticeFacts,
    book: RateBook,
    *,
    certificates: Sequence[PensionCertificate],
    disputes: Sequence[tuple[Dispute, int]],
    today: date,
    days: int,
) -> list[ToDo]:
    """Everything due from today to ``days`` ahead, and anything already overdue, soonest
    first."""
    until = today + timedelta(days=days)
    items = [
        *_qof(facts, book, today=today, until=until),
        *_claims(facts, today=today, until=until),
        *_estimates(facts, book, today=today, until=until),
        *_certificates(facts, book, certificates, today=today, until=until),
        *_locum_forms(today=today, until=until),
        *_escalations(disputes, until=until),
    ]
    return sorted(items, key=lambda i: (i.due_on, i.kind.value, i.reference or ""))


def _qof(facts: PracticeFacts, book: RateBook, *, today: date, until: date) -> list[ToDo]:
    """Last year's declaration (and this year's, if its sign-off falls in the window)."""
    items = []
    year = financial_year(today)
    for fy in (year - 1, year):
        due = book.deadline(DeadlineKind.QOF_DECLARATION, fy)
        if due is None or due > until:
            continue
        declaration = next((d for d in facts.declarations if d.financial_year == fy), None)
        if declaration is not None and declaration.state is not (
            DeclarationState.AWAITING_PROVIDER_APPROVAL
        ):
            continue
        items.append(
            ToDo(
                due_on=due,
                kind=ToDoKind.QOF_DECLARATION,
                what=f"QOF {fy}/{(fy + 1) % 100:02d} achievement declaration sign-off",
                action="Sign off the declaration in CQRS (it is awaiting the practice's approval)"
                if declaration is not None
                else "Check the declaration in CQRS and sign it off, then record its state "
                "here (recordQofDeclaration)",
                source=book.deadline_source(DeadlineKind.QOF_DECLARATION, fy),
                overdue=due < today,
            )
        )
    return items


def _claims(facts: PracticeFacts, *, today: date, until: date) -> list[ToDo]:
    """Approved claims: when each should be on a statement (one already past its date unpaid
    is an anomaly, MISSING, not a to-do)."""
    items = []
    for claim in facts.claims:
        if claim.state is not ClaimState.APPROVED or claim.approved_on is None:
            continue
        due = claim_due(claim.component, claim.approved_on)
        if not today <= due <= until:
            continue
        items.append(
            ToDo(
                due_on=due,
                kind=ToDoKind.CLAIM_PAYMENT,
                what=f"Claim {claim.reference} ({claim.description}), "
                f"{pounds_text(claim.amount_pence)}, approved {claim.approved_on.isoformat()}",
                action="Check it is on the statement by this date; if not, dispute it "
                "(openDispute with its claimId)",
                source=claim_due_said(claim.component),
                overdue=False,
                reference=claim.reference,
            )
        )
    return items


def _estimates(facts: PracticeFacts, book: RateBook, *, today: date, until: date) -> list[ToDo]:
    """Next year's estimate of pensionable pay for each GP in post, before the year starts."""
    next_year = financial_year(today) + 1
    due = book.deadline(DeadlineKind.PENSION_ESTIMATE, next_year)
    if due is None or due > until:
        return []
    estimated = {e.gmc_number for e in facts.estimates if e.financial_year == next_year}
    return [
        ToDo(
            due_on=due,
            kind=ToDoKind.PENSION_ESTIMATE,
            what=f"Estimate of pensionable pay {next_year}/{(next_year + 1) % 100:02d} for GMC "
            f"{gmc} ({role})",
            action="Submit the estimate to PCSE, with the tier to deduct at, and record it here "
            "(recordPensionEstimate)",
            source=book.deadline_source(DeadlineKind.PENSION_ESTIMATE, next_year),
            overdue=due < today,
            reference=gmc,
        )
        for gmc, role in sorted(_in_post(facts, today).items())
        if gmc not in estimated
    ]


def _certificates(
    facts: PracticeFacts,
    book: RateBook,
    certificates: Sequence[PensionCertificate],
    *,
    today: date,
    until: date,
) -> list[ToDo]:
    """Last year's Type 1 / Type 2 certificates, by 28 February, for each GP in post in it."""
    last_year = financial_year(today) - 1
    due = book.deadline(DeadlineKind.PENSION_CERTIFICATE, last_year)
    if due is None or due > until:
        return []
    held = {c.gmc_number for c in certificates if c.financial_year == last_year}
    items = []
    for gmc, role in sorted(_in_post_during(facts, last_year).items()):
        if gmc in held:
            continue
        kind = CERTIFICATE_ROLES.get(role, "Type 2")
        items.append(
            ToDo(
                due_on=due,
                kind=ToDoKind.PENSION_CERTIFICATE,
                what=f"{kind} certificate {last_year}/{(last_year + 1) % 100:02d} for GMC {gmc} "
                f"({role})",
                action=f"Send the {kind} certificate to PCSE: a missing year blocks every later "
                "annual benefit statement",
                source=book.deadline_source(DeadlineKind.PENSION_CERTIFICATE, last_year),
                overdue=due < today,
                reference=gmc,
            )
        )
    return items


LOCUM_DAY: Final = 7


def _locum_forms(*, today: date, until: date) -> list[ToDo]:
    """The 7th of every month in the window: forms for locums paid the month before."""
    items = []
    seventh = today.replace(day=LOCUM_DAY)
    if today.day > LOCUM_DAY:
        seventh = add_months(month_start(today), 1).replace(day=LOCUM_DAY)
    while seventh <= until:
        paid_in = add_months(month_start(seventh), -1)
        items.append(
            ToDo(
                due_on=seventh,
                kind=ToDoKind.LOCUM_FORMS,
                what=f"Locum Forms A and B for locums paid in {paid_in:%B %Y}",
                action="Send Form A with each invoice and Form B for the month, with the "
                "contributions and the BACS reference <SD number>LOC"
                f"{paid_in.strftime('%b').upper()}{paid_in.year}",
                source=LOCUM_SOURCE,
                overdue=False,
            )
        )
        seventh = add_months(month_start(seventh), 1).replace(day=LOCUM_DAY)
    return items


def _escalations(disputes: Sequence[tuple[Dispute, int]], *, until: date) -> list[ToDo]:
    """Open disputes the practice may now (or soon) ask its LMC to escalate."""
    items = []
    for dispute, escalation_days in disputes:
        if dispute.resolved_at is not None or dispute.escalated_on is not None:
            continue
        due = dispute.raised_on + timedelta(days=escalation_days + 1)
        if due > until:
            continue
        items.append(
            ToDo(
                due_on=due,
                kind=ToDoKind.DISPUTE_ESCALATION,
                what=f"Dispute {dispute.reference}: {dispute.subject}",
                action="Ask the LMC to escalate it (escalateDispute)"
                if dispute.cas_reference
                else "Record PCSE's CAS reference (addDisputeEvent), then ask the LMC to "
                "escalate it (escalateDispute)",
                source=ESCALATION_SOURCE,
                overdue=False,
                reference=dispute.reference,
            )
        )
    return items


def _in_post(facts: PracticeFacts, today: date) -> dict[str, str]:
    return {
        m.gmc_number: m.role
        for m in facts.memberships
        if m.start_date <= today and (m.end_date is None or m.end_date >= today)
    }


def _in_post_during(facts: PracticeFacts, year: int) -> dict[str, str]:
    start, end = date(year, 4, 1), date(year + 1, 3, 31)
    return {
        m.gmc_number: m.role
        for m in facts.memberships
        if m.start_date <= end and (m.end_date is None or m.end_date >= start)
    }


def pay_date(due_on: date) -> date:
    """The run that pays an amount due on ``due_on``: the last working day on or before it
    (PCSE's main run is on the month's last working day; DOMAIN.md §2)."""
    day = due_on
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


@dataclass(frozen=True)
class ForecastItem:
    component: Component | None
    what: str
    amount_pence: int | None
    """None when it cannot be known yet (a QOF balance before approval, pension balancing)."""
    source: str


@dataclass(frozen=True)
class PayDate:
    pay_on: date
    items: list[ForecastItem]

    @property
    def net_pence(self) -> int:
        return sum(i.amount_pence for i in self.items if i.amount_pence is not None)

    @property
    def complete(self) -> bool:
        return all(i.amount_pence is not None for i in self.items)


def forecast(
    expectations: Sequence[Expectation],
    facts: PracticeFacts,
    book: RateBook,
    *,
    today: date,
    months: int = 3,
) -> list[PayDate]:
    """What should reach (or leave) the bank, by pay date, from tomorrow to the end of the
    ``months``-th month after today's: the expected schedule, the June QOF balance (its amount
    once CQRS approves the declaration) and the April-May pension year-end balancing (its
    amount once PCSE processes the certificates)."""
    until = month_end(add_months(today, months))
    by_day: dict[date, list[ForecastItem]] = defaultdict(list)
    balances: set[int] = set()
    for e in expectations:
        if not today < e.due_on <= until:
            continue
        if e.basis is Basis.BALANCE:
            balances.add(e.covers_from.year)
        label = e.component.value.replace("_", " ")
        by_day[pay_date(e.due_on)].append(
            ForecastItem(
                component=e.component,
                what=f"{label}, {e.covers_from:%b %Y}"
                + (f" (GMC {e.gmc_number})" if e.gmc_number else "")
                + (f" (claim {e.claim_reference})" if e.claim_reference else ""),
                amount_pence=e.amount_pence,
                source="the expected schedule: " + "; ".join(v for _, v in e.derivation[:1]),
            )
        )
    for fy in range(financial_year(today) - 1, financial_year(until) + 1):
        due = book.deadline(DeadlineKind.QOF_ACHIEVEMENT, fy)
        if due is None or not today < due <= until or fy in balances:
            continue
        by_day[pay_date(due)].append(
            ForecastItem(
                component=Component.QOF_ACHIEVEMENT,
                what=f"QOF achievement balance {fy}/{(fy + 1) % 100:02d}: the year's achievement "
                "less the aspiration paid; its amount is known once CQRS approves the "
                "declaration",
                amount_pence=None,
                source=book.deadline_source(DeadlineKind.QOF_ACHIEVEMENT, fy),
            )
        )
    pensions = any(e.component in PENSION_COMPONENTS for e in expectations) or bool(facts.estimates)
    for year in range(today.year, until.year + 1):
        run = pay_date(month_end(date(year, 4, 1)))
        if pensions and today < run <= until:
            by_day[run].append(
                ForecastItem(
                    component=None,
                    what=f"Pension year-end balancing for {year - 2}/{(year - 1) % 100:02d} "
                    "(Type 1/2 reconciliation), in the April or May run: arrears or a refund, "
                    "known once PCSE processes the certificates",
                    amount_pence=None,
                    source=PENSION_BALANCING_SOURCE,
                )
            )
    return [PayDate(pay_on=day, items=by_day[day]) for day in sorted(by_day)]
