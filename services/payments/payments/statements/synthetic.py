"""Statements as PCSE issues them, made from an expected schedule: for the demo data and the
national data set, never for judging (the corpus of hand-written statements does that).

The mechanics are the ones detection reads: the main monthly run on the last working day on or
before the month's end and a CQRS run mid-month, each a bank credit with its remittance
reference; a global sum and its out-of-hours deduction as two lines; a rate or a revision
decided after the months it applies to paid at the old figure until then, the difference as
one arrears line covering those months; a provisional QOF aspiration trued up by one line; the
June achievement balance; a quarterly levy as one line covering its quarter; approved claims in
the next CQRS run; employer contributions as one 14.38% line or 14.30% and a 0.08% levy line, as
the schedule says; year-end balancing lines for salaried GPs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from payments.models import ChainStatus, Component, LineRow, Paymaster
from payments.rates import add_months, is_working_day, month_end, month_start
from payments.schedule import rules as schedule
from payments.schedule.rules import Basis

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from payments.rates import RateBook
    from payments.schedule.rules import Expectation, PracticeFacts

CQRS_DAY: Final = 17
ARREARS: Final = {Component.GLOBAL_SUM: "GSUMARR"}
"""The paycode an arrears line comes under, where it has its own; the item's own otherwise."""
DESCRIPTIONS: Final = {
    "GSUM": "Global sum",
    "GSUMOOH": "Out-of-hours opt-out deduction 4.75% of global sum",
    "GSUMARR": "Global sum arrears of a backdated uplift",
    "PMSBASE": "PMS baseline",
    "APMSCON": "APMS contract payment",
    "QOFASP": "QOF aspiration",
    "QOFACH": "QOF achievement less aspiration paid",
    "LMCSTAT": "LMC statutory levy",
    "LMCVOL": "LMC voluntary levy",
    "TRAINEE": "GP trainee pay reimbursement",
    "TRGRANT": "Training grant",
    "SUPEREE": "Superannuation: employee contributions",
    "SUPERER": "Superannuation: employer contributions",
    "SUPADMIN": "Pension scheme administration levy",
    "SUPEEYE": "Superannuation: employee year-end balancing",
}
PENSION_PAYMASTER: Final = frozenset(
    {
        Component.EMPLOYEE_SUPERANNUATION,
        Component.EMPLOYER_SUPERANNUATION,
        Component.PENSION_ADMIN_LEVY,
    }
)
TRAINING: Final = frozenset({Component.TRAINEE_REIMBURSEMENT, Component.TRAINING_GRANT})


def run_day(due: date) -> date:
    """The main run: the last working day on or before the due date (a credit cannot land on
    a weekend or bank holiday, and paying early is never late)."""
    day = due
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def cqrs_day(month: date) -> date:
    """The mid-month CQRS run: the 17th, or the next working day."""
    day = month.replace(day=CQRS_DAY)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


@dataclass(frozen=True)
class Line:
    """One statement line, before it is written anywhere."""

    ods_code: str
    period: date
    component: Component
    paycode: str
    amount_pence: int
    covers_from: date
    covers_to: date
    paid_on: date
    paymaster: Paymaster
    authoriser: str
    gmc_number: str | None = None
    description: str = ""
    status: ChainStatus = ChainStatus.PAID

    @property
    def remittance_ref(self) -> str:
        return f"{self.ods_code}-{self.paid_on:%Y%m%d}"

    @property
    def text(self) -> str:
        return self.description or DESCRIPTIONS.get(self.paycode, self.component.value)


@dataclass
class Statements:
    """One practice's lines, made from its expectations."""

    ods_code: str
    last: date
    """The last month paid: nothing due after it is issued."""
    quarterly_levies: bool = False
    first: date | None = None
    """The first month issued: a quarter that starts before it is deducted month by month."""
    lines: list[Line] = field(default_factory=list)

    def paymaster(self, component: Component) -> tuple[Paymaster, str]:
        if component in PENSION_PAYMASTER:
            return Paymaster.NHS_ENGLAND, "ICB (collected for the NHS Pension Scheme)"
        if component in TRAINING:
            return Paymaster.NHS_ENGLAND, "NHS England Workforce, Training and Education"
        return Paymaster.ICB, "ICB"

    def add(
        self,
        component: Component,
        paycode: str,
        amount: int,
        *,
        covers_from: date,
        covers_to: date,
        paid_on: date,
        gmc_number: str | None = None,
        description: str = "",
        status: ChainStatus = ChainStatus.PAID,
    ) -> None:
        paymaster, authoriser = self.paymaster(component)
        self.lines.append(
            Line(
                ods_code=self.ods_code, period=month_start(paid_on), component=component,
                paycode=paycode, amount_pence=amount, covers_from=covers_from,
                covers_to=covers_to, paid_on=paid_on, paymaster=paymaster,
                authoriser=authoriser, gmc_number=gmc_number, description=description,
                status=status,
            )
        )  # fmt: skip

    def pay(self, expectations: Iterable[Expectation], *, skip: Iterable[Expectation] = ()) -> None:
        """Every expectation due by the end of ``last`` paid as PCSE pays it, but ``skip``."""
        skipped = {e.key for e in skip}
        arrears: dict[tuple[Component, str | None, date], list[Expectation]] = defaultdict(list)
        levies: dict[tuple[Component, date], list[Expectation]] = defaultdict(list)
        for e in expectations:
            if e.key in skipped:
                continue
            if self.quarterly_levies and e.component in {
                Component.LMC_STATUTORY_LEVY,
                Component.LMC_VOLUNTARY_LEVY,
            }:
                # Deducted for the whole quarter in its first month, so a quarter under way
                # is taken before its later months are due.
                quarter = date(e.covers_from.year, (e.covers_from.month - 1) // 3 * 3 + 1, 1)
                if self.first is None or quarter >= self.first:
                    if quarter <= self.last:
                        levies[(e.component, quarter)].append(e)
                    continue
            if e.due_on > month_end(self.last):
                continue
            if e.basis is Basis.CLAIM:
                self.claim(e)
                continue
            before = e.interim_pence
            if before is not None and e.settle_by is not None:
                # Paid at the figure known on the day, the difference later as arrears.
                self.expectation(e, scale=(before, e.amount_pence))
                arrears[(e.component, e.gmc_number, e.settle_by)].append(e)
                continue
            self.expectation(e)
        for (component, gmc, settle), items in sorted(
            arrears.items(), key=lambda pair: (pair[0][2], pair[0][0].value, pair[0][1] or "")
        ):
            difference = sum(e.amount_pence - (e.interim_pence or 0) for e in items)
            paid = min(run_day(settle), run_day(month_end(self.last)))
            if difference and paid >= items[-1].due_on:
                self.add(
                    component, ARREARS.get(component, items[0].paycode), difference,
                    covers_from=items[0].covers_from, covers_to=items[-1].covers_to,
                    paid_on=paid, gmc_number=gmc,
                    description=f"{DESCRIPTIONS.get(items[0].paycode, component.value)}: "
                    "arrears of a change decided later",
                )  # fmt: skip
        for (component, quarter), items in sorted(
            levies.items(), key=lambda p: (p[0][1], p[0][0].value)
        ):
            self.add(
                component, items[0].paycode, sum(e.amount_pence for e in items),
                covers_from=quarter, covers_to=month_end(add_months(quarter, 2)),
                paid_on=run_day(month_end(quarter)),
                description=f"{DESCRIPTIONS[items[0].paycode]} for the quarter",
            )  # fmt: skip

    def expectation(
        self,
        e: Expectation,
        *,
        scale: tuple[int, int] | None = None,
        late_days: int = 0,
        amount: int | None = None,
    ) -> None:
        """One expectation's lines on its due date (or ``late_days`` after it)."""
        paid = run_day(e.due_on) if not late_days else e.due_on + timedelta(days=late_days)
        for paycode, pence in e.lines:
            value = pence
            if scale is not None and scale[1]:
                # The figure known on the day: the old rate's share of each line.
                value = round(pence * scale[0] / scale[1])
            if amount is not None:
                value = amount if paycode == e.lines[0][0] else 0
                if not value:
                    continue
            self.add(
                e.component, paycode, value, covers_from=e.covers_from, covers_to=e.covers_to,
                paid_on=paid, gmc_number=e.gmc_number,
            )  # fmt: skip

    def claim(self, e: Expectation) -> None:
        """An approved claim in the CQRS run of the month after its approval (a dispensing
        claim the month it is priced), before its due date."""
        due = e.due_on
        day = min(cqrs_day(month_start(due)), run_day(due))
        self.add(
            e.component, e.paycode, e.amount_pence, covers_from=e.covers_from,
            covers_to=e.covers_to, paid_on=day,
            description=f"Claim {e.claim_reference}",
        )  # fmt: skip


def issue(
    built: Statements,
    facts: PracticeFacts,
    book: RateBook,
    *,
    until: date,
    known_on: date,
    skip: Callable[[Expectation], bool] = lambda _: False,
) -> list[Expectation]:
    """Pay the practice's schedule into ``built`` as PCSE pays it, but what ``skip`` says: the
    regular items and claims first, then each June's QOF balance on the aspiration those lines
    actually paid (as PCSE works it out). Every expectation, the balances included."""
    regular = [
        e
        for e in schedule.expected(facts, book, until=until, known_on=known_on)
        if e.basis is not Basis.BALANCE
    ]
    built.pay(regular, skip=[e for e in regular if skip(e)])
    paid = schedule.summarise(rows(built.lines))
    settled = replace(facts, lines=replace(paid, levy_beside=facts.lines.levy_beside))
    balances = [
        e
        for e in schedule.expected(settled, book, until=until, known_on=known_on)
        if e.basis is Basis.BALANCE
    ]
    built.pay(balances, skip=[e for e in balances if skip(e)])
    return regular + balances


def rows(lines: Iterable[Line]) -> list[LineRow]:
    """Lines as the rows the schedule reads back."""
    return [
        LineRow(
            id=index, statement_id=0, component=line.component, paycode=line.paycode,
            description=line.text, amount_pence=line.amount_pence, covers_from=line.covers_from,
            covers_to=line.covers_to, paymaster=line.paymaster, source_system="",
            authoriser=None, status=line.status, authorised_on=None, entered_on=None,
            paid_on=line.paid_on, failed_on=None, reversed_on=None, gmc_number=line.gmc_number,
            run_id=None, remittance_ref=None,
        )
        for index, line in enumerate(lines)
    ]  # fmt: skip
