"""The expected schedule: what a practice should receive (or have deducted), when, and why.

Derived, never stored, from this service's copy of the directory (contract type, opt-outs, the
list by quarter, LMC), the rates in force (and when each was decided), QOF declarations,
contract values, trainee placements, claims, pension estimates and memberships. Every
expectation carries the steps of its derivation, so a practice can check it and quote it in a
claim; where a fact is missing and a fallback stands in, the derivation says so.

Monthly expectations start with the first statement PCSE holds for the practice (nothing is
known to have been due before) and run to the month of the day asked about. Amounts are worked
out exactly and rounded half up to the penny once, on each month's figure.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from payments.models import (
    ChainStatus,
    ClaimState,
    Component,
    DeadlineKind,
    DeclarationState,
    RateKind,
)
from payments.rates import (
    add_months,
    financial_year,
    month_end,
    months_between,
    pounds_text,
    round_pence,
    year_label,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from payments.models import (
        ContractValue,
        LineRow,
        Paymaster,
        PensionEstimate,
        PerformerMembership,
        PerformerStatusChange,
        PracticeClaim,
        PracticeDirectory,
        PracticeListSize,
        QofDeclaration,
        TraineePay,
        TraineePlacement,
    )
    from payments.rates import RateBook, RateValue

APPROVED = frozenset({DeclarationState.APPROVED, DeclarationState.PAID})
"""Declaration states in which the achievement balance is due (approved dated)."""
DUE_STATES = APPROVED | {DeclarationState.NO_DECLARATION_REQUIRED}
PENSION_COMPONENTS = frozenset(
    {
        Component.EMPLOYEE_SUPERANNUATION,
        Component.EMPLOYER_SUPERANNUATION,
        Component.PENSION_ADMIN_LEVY,
    }
)
MEMBER_DEDUCTIONS = PENSION_COMPONENTS | {
    Component.ADDITIONAL_VOLUNTARY_CONTRIBUTIONS,
    Component.ADDED_YEARS,
    Component.ERRBO,
}
"""Deductions taken for one GP: they stop when the GP leaves."""
PAYCODES = {
    Component.GLOBAL_SUM: "GSUM",
    Component.PMS_BASELINE: "PMSBASE",
    Component.APMS_CONTRACT: "APMSCON",
    Component.QOF_ASPIRATION: "QOFASP",
    Component.QOF_ACHIEVEMENT: "QOFACH",
    Component.TRAINEE_REIMBURSEMENT: "TRAINEE",
    Component.TRAINING_GRANT: "TRGRANT",
    Component.LMC_STATUTORY_LEVY: "LMCSTAT",
    Component.LMC_VOLUNTARY_LEVY: "LMCVOL",
    Component.EMPLOYEE_SUPERANNUATION: "SUPEREE",
    Component.EMPLOYER_SUPERANNUATION: "SUPERER",
    Component.PENSION_ADMIN_LEVY: "SUPADMIN",
}
CORE_PAYCODES: Final = {"GSUM": "GMS", "PMSBASE": "PMS", "APMSCON": "APMS"}
CORE_COMPONENT: Final = {
    "GMS": Component.GLOBAL_SUM,
    "PMS": Component.PMS_BASELINE,
    "APMS": Component.APMS_CONTRACT,
}
MONTHS_A_YEAR: Final = 12
APRIL: Final = 4
JANUARY: Final = 1
SUSPENDED: Final = "suspended"
OFF_THE_LIST: Final = frozenset({"removed", "withdrawn", "refused"})

Derivation = tuple[tuple[str, str], ...]


class Basis(enum.StrEnum):
    """What an expectation is: how detection reads the lines against it."""

    MONTHLY = "monthly"
    """One month of a recurring payment or deduction."""
    BALANCE = "balance"
    """A year's QOF achievement balance."""
    CLAIM = "claim"
    """A claim the commissioner approved."""


@dataclass(frozen=True)
class Expectation:
    """One amount a practice should see on its statements, and by when."""

    ods_code: str
    component: Component
    covers_from: date
    covers_to: date
    due_on: date
    amount_pence: int
    """Negative for a deduction, like a line: what is due once every decision is made."""
    derivation: Derivation
    counts: frozenset[Component] = frozenset()
    """The components whose lines count towards it (the component itself if empty)."""
    paycodes: frozenset[str] = frozenset()
    """Only these paycodes' lines count (a claim naming its paycode); any if empty."""
    gmc_number: str | None = None
    declaration_state: DeclarationState | None = None
    pensionable_pence: int | None = None
    """For a pension deduction: the year's pensionable pay the rate applies to."""
    rate: Decimal | None = field(default=None, compare=False)
    interim_pence: int | None = None
    """What was due before a later decision (the old rate before a backdated uplift, the
    provisional aspiration): right until ``settle_by``, when the difference is due."""
    settle_by: date | None = None
    claim_reference: str | None = None
    approximate: bool = False
    """The amount rests on a stand-in fact (no weighted list yet): a missing payment is found,
    an amount is not judged."""
    basis: Basis = Basis.MONTHLY
    commissioner: Paymaster | None = None
    parts: tuple[tuple[str, int], ...] = field(default=(), compare=False)
    """The lines it is paid as, by paycode (a global sum and its out-of-hours deduction); the
    one paycode and amount if empty. What a statement shows, not how it is judged."""

    @property
    def paycode(self) -> str:
        if self.paycodes:
            return min(self.paycodes)
        return PAYCODES.get(self.component, "OTHER")

    @property
    def lines(self) -> tuple[tuple[str, int], ...]:
        """(paycode, pence) of each line that pays it."""
        return self.parts or ((self.paycode, self.amount_pence),)

    @property
    def key(self) -> tuple[Component, date, str | None, str | None]:
        return (self.component, self.covers_from, self.gmc_number, self.claim_reference)

    @property
    def is_pension(self) -> bool:
        return self.component in PENSION_COMPONENTS

    @property
    def counted(self) -> frozenset[Component]:
        return self.counts or frozenset({self.component})


class NoteKind(enum.StrEnum):
    """Something a practice should know that is not a problem with its payments."""

    TIER_DIFFERS = "tier_differs"
    """The tier declared on an estimate is not the one the pay this service knows gives."""
    PERFORMER_SUSPENDED = "performer_suspended"
    """Pay for a GP suspended from the performers list: can be right; check it is."""
    FACT_MISSING = "fact_missing"
    """An expectation rests on a stand-in, or cannot be worked out, for want of a fact."""


@dataclass(frozen=True)
class Note:
    kind: NoteKind
    component: Component
    covers_from: date
    summary: str
    facts: Derivation
    gmc_number: str | None = None


@dataclass(frozen=True)
class LineSummary:
    """What the schedule reads from the statements themselves."""

    aspiration_paid: Mapping[int, int] = field(default_factory=dict)
    """Financial year to the net of its QOF aspiration lines."""
    aspiration_months: Mapping[int, int] = field(default_factory=dict)
    """Financial year to how many of its months an aspiration line covers."""
    march_aspiration: Mapping[int, int] = field(default_factory=dict)
    """Financial year to the aspiration paid for its March: next April's provisional figure."""
    levy_beside: bool = False
    """Employer contributions shown as 14.30% plus a separate 0.08% levy line."""
    ooh_lines: bool = False
    core: frozenset[str] = frozenset()
    """The contract types whose core paycode appears (GMS, PMS, APMS)."""


def summarise(lines: Iterable[LineRow]) -> LineSummary:
    aspiration: dict[int, int] = {}
    covered: dict[int, set[date]] = {}
    march: dict[int, int] = {}
    levy = ooh = False
    core: set[str] = set()
    for line in lines:
        if line.paycode in CORE_PAYCODES:
            core.add(CORE_PAYCODES[line.paycode])
        if line.paycode == "GSUMOOH":
            ooh = True
        if line.component is Component.PENSION_ADMIN_LEVY:
            levy = True
        if line.component is not Component.QOF_ASPIRATION:
            continue
        effect = line_effect(line)
        months = months_between(line.covers_from, line.covers_to)
        for month in months:
            year = financial_year(month)
            share = _share(effect, months, month)
            aspiration[year] = aspiration.get(year, 0) + share
            covered.setdefault(year, set()).add(month)
            if month.month == 3:  # noqa: PLR2004 - March ends the year
                march[year] = march.get(year, 0) + share
    return LineSummary(
        aspiration_paid=aspiration,
        aspiration_months={year: len(months) for year, months in covered.items()},
        march_aspiration=march,
        levy_beside=levy,
        ooh_lines=ooh,
        core=frozenset(core),
    )


def _share(effect: int, months: list[date], month: date) -> int:
    """A line's share of one of the months it covers: equal shares, the pennies left over
    going to the first months."""
    whole, left = divmod(abs(effect), len(months))
    share = whole + (1 if months.index(month) < left else 0)
    return share if effect >= 0 else -share


def line_effect(line: LineRow) -> int:
    """What a line did to the practice's bank balance, in pence: a paid line its amount, a
    reversal minus it; authorised, entered and failed lines nothing yet."""
    if line.status is ChainStatus.PAID:
        return line.amount_pence
    if line.status is ChainStatus.REVERSED:
        return -line.amount_pence
    return 0


@dataclass(frozen=True)
class PracticeFacts:
    """What the schedule of one practice is derived from."""

    ods_code: str
    directory: PracticeDirectory | None
    """None while the practice is not (yet) in this service's copy of the directory."""
    schedule_start: date | None
    """The period of the first statement PCSE holds for the practice."""
    list_sizes: Sequence[PracticeListSize] = ()
    contract_values: Sequence[ContractValue] = ()
    declarations: Sequence[QofDeclaration] = ()
    placements: Sequence[TraineePlacement] = ()
    estimates: Sequence[PensionEstimate] = ()
    pay_across_posts: Mapping[tuple[str, int], int] = field(default_factory=dict)
    """(GMC number, year) to the performer's pensionable pay across all posts known here."""
    memberships: Sequence[PerformerMembership] = ()
    claims: Sequence[PracticeClaim] = ()
    status_changes: Sequence[PerformerStatusChange] = ()
    lines: LineSummary = field(default_factory=LineSummary)
    trainee_pay: Mapping[int, Sequence[TraineePay]] = field(default_factory=dict)
    """A placement's id to its pay changes (revised set-up forms)."""

    @property
    def lmc_code(self) -> str | None:
        return None if self.directory is None else self.directory.lmc_code


def expected(
    facts: PracticeFacts, book: RateBook, *, until: date, known_on: date | None = None
) -> list[Expectation]:
    """Every expectation of the practice from its first statement to ``until``'s month, with
    the rates decided by ``known_on`` (every rate on record when None)."""
    return _Schedule(facts, book, until, known_on).expectations


def notes(
    facts: PracticeFacts, book: RateBook, *, until: date, known_on: date | None = None
) -> list[Note]:
    """What the practice should know about its schedule that is not a problem."""
    return _Schedule(facts, book, until, known_on).notes


class _Schedule:
    def __init__(
        self, facts: PracticeFacts, book: RateBook, until: date, known_on: date | None
    ) -> None:
        self.facts = facts
        self.book = book
        self.known_on = known_on
        self.expectations: list[Expectation] = []
        self.notes: list[Note] = []
        if facts.schedule_start is None:
            return
        self.start = facts.schedule_start
        self.months = months_between(facts.schedule_start, until)
        self._core()
        self._qof_aspiration()
        self._qof_balances()
        self._levies()
        self._trainees()
        self._training_grant()
        self._pensions()
        self._claims()
        self.expectations.sort(
            key=lambda e: (e.covers_from, e.component.value, e.gmc_number or "", e.due_on)
        )

    # -- shared pieces

    def _add(
        self,
        component: Component,
        month: date,
        amount: int,
        derivation: list[tuple[str, str]],
        *,
        due: tuple[date, str] | None = None,
        interim: tuple[int, date] | None = None,
        **extra: object,
    ) -> None:
        due_on, why = due or (month_end(month), "the month's main payment")
        commissioner = self.book.commissioner(component, month)
        if interim is not None:
            extra = {**extra, "interim_pence": interim[0], "settle_by": interim[1]}
        self.expectations.append(
            Expectation(
                ods_code=self.facts.ods_code,
                component=component,
                covers_from=month,
                covers_to=month_end(month),
                due_on=due_on,
                amount_pence=amount,
                derivation=(
                    *derivation,
                    ("Commissioner", self.book.describe_commissioner(component, month)),
                    ("Due", f"{due_on.isoformat()}, {why}"),
                ),
                commissioner=None if commissioner is None else commissioner.commissioner,
                **extra,  # type: ignore[arg-type]
            )
        )

    def _note(
        self,
        kind: NoteKind,
        component: Component,
        month: date,
        summary: str,
        facts: list[tuple[str, str]],
        *,
        gmc_number: str | None = None,
    ) -> None:
        self.notes.append(
            Note(kind, component, month, summary, tuple(facts), gmc_number=gmc_number)
        )

    def _list(self, month: date) -> tuple[int | None, Decimal | None, tuple[str, str], bool]:
        """The registered and weighted list for ``month``'s quarter, the fact that says where
        they come from, and whether a stand-in was used."""
        quarter = date(month.year, (month.month - 1) // 3 * 3 + 1, 1)
        known = sorted(
            (row for row in self.facts.list_sizes if row.quarter_start <= quarter),
            key=lambda row: row.quarter_start,
        )
        for row in reversed(known):
            if row.quarter_start == quarter:
                return (
                    row.registered_patients,
                    row.weighted_patients,
                    (
                        "List",
                        f"quarter from {quarter}: {row.registered_patients:,} registered, "
                        f"{_weighted(row.weighted_patients)} weighted ({row.source})",
                    ),
                    False,
                )
            return (
                row.registered_patients,
                row.weighted_patients,
                (
                    "List",
                    f"quarter from {quarter} not recorded yet: the quarter from "
                    f"{row.quarter_start} carried forward, {row.registered_patients:,} "
                    f"registered, {_weighted(row.weighted_patients)} weighted ({row.source})",
                ),
                True,
            )
        directory = self.facts.directory
        if directory is None:
            return None, None, ("List", "not known: the practice is not in the directory"), True
        return (
            directory.list_size,
            None,
            (
                "List",
                f"no quarterly list recorded: the directory's current {directory.list_size:,} "
                "registered patients stand in, and the weighted list is not known",
            ),
            True,
        )

    # -- the core contract payment

    def _contract_type(self) -> tuple[str | None, str]:
        directory = self.facts.directory
        if directory is not None and directory.contract_type is not None:
            return directory.contract_type, "practice directory"
        seen = self.facts.lines.core
        if len(seen) == 1:
            [contract] = seen
            return contract, (
                "not in the directory yet: taken from the core payment lines on the statements"
            )
        return None, "not known (the directory has not said, and the statements do not show)"

    def _core(self) -> None:
        contract, said = self._contract_type()
        if contract is None:
            self._note(
                NoteKind.FACT_MISSING, Component.GLOBAL_SUM, self.start,
                "The practice's contract type is not known, so its core payment (global sum, "
                "PMS baseline or APMS contract) is not checked.",
                [("Contract type", said)],
            )  # fmt: skip
            return
        basis = ("Contract", f"{contract} ({said})")
        if contract == "GMS":
            for month in self.months:
                self._global_sum(month, basis)
            return
        component = CORE_COMPONENT[contract]
        for month in self.months:
            values = [
                v
                for v in self.facts.contract_values
                if v.effective_from <= month
                and v.contract_type == contract
                and _known(v.decided_on, self.known_on)
            ]
            if not values:
                if month == self.months[0]:
                    self._note(
                        NoteKind.FACT_MISSING, component, month,
                        f"The {contract} contract value is not recorded, so the monthly "
                        f"{_label(component)} is not checked.",
                        [basis],
                    )  # fmt: skip
                continue
            value = _latest_value(values)
            amount = round_pence(Decimal(value.annual_pence) / MONTHS_A_YEAR)
            steps = [
                basis,
                ("Contract value", f"{pounds_text(value.annual_pence)} a year from "
                 f"{value.effective_from} ({value.source})"),
                ("This month", f"{pounds_text(amount)} = a year / 12"),
            ]  # fmt: skip
            due = month_end(month)
            known = [v for v in values if _known(v.decided_on, due)]
            before = _latest_value(known) if known else None
            interim = None
            if before is not None and before is not value and value.decided_on is not None:
                old = round_pence(Decimal(before.annual_pence) / MONTHS_A_YEAR)
                settle = month_end(add_months(value.decided_on, 1))
                interim = (old, settle)
                steps.append(
                    ("Decided later", f"the variation of {value.decided_on} came after this "
                     f"month was due: {pounds_text(old)} was right on {due}, and the "
                     f"{pounds_text(amount - old)} difference is due as arrears by {settle}")
                )  # fmt: skip
            self._add(component, month, amount, steps, interim=interim)

    def _global_sum(self, month: date, basis: tuple[str, str]) -> None:
        rate = self.book.rate(RateKind.GLOBAL_SUM, month, known_on=self.known_on)
        if rate is None:
            return
        registered, weighted, list_fact, stand_in = self._list(month)
        approximate = weighted is None
        patients = weighted if weighted is not None else Decimal(registered or 0)
        opted_out, opt_out_said = self._opted_out()
        ooh = self.book.rate(RateKind.OOH_OPT_OUT, month) if opted_out else None
        due = month_end(month)

        def net(value: RateValue) -> tuple[int, int, int]:
            gross = round_pence(patients * value.value / MONTHS_A_YEAR)
            deduction = 0 if ooh is None else round_pence(Decimal(gross) * ooh.value / 100)
            return gross, deduction, gross - deduction

        gross, deduction, amount = net(rate)
        derivation = [
            basis,
            list_fact,
            ("Global sum rate", rate.describe()),
            (
                "Global sum",
                f"{pounds_text(gross)} = {_weighted(patients)} "
                f"{'registered (standing in for weighted)' if approximate else 'weighted'} "
                f"x rate / 12",
            ),
        ]
        if ooh is not None:
            derivation.append(
                (
                    "Out-of-hours opt-out",
                    f"{pounds_text(deduction)} deducted = {ooh.value.normalize():f}% of the "
                    f"global sum ({opt_out_said}; {ooh.source})",
                )
            )
        derivation.append(("This month", f"{pounds_text(amount)} net"))
        old_rate = self.book.rate(RateKind.GLOBAL_SUM, month, known_on=due)
        interim = None
        if old_rate is not None and old_rate != rate and rate.arrears_due is not None:
            _, _, before = net(old_rate)
            interim = (before, rate.arrears_due)
            derivation.append(
                (
                    "Decided later",
                    f"{rate.value.normalize():f}p was decided on {rate.decided_on}, after this "
                    f"month was due: {pounds_text(before)} at the old rate was right on "
                    f"{due}, and the {pounds_text(amount - before)} difference is due as "
                    f"arrears by {rate.arrears_due}",
                )
            )
        if stand_in:
            self._note(
                NoteKind.FACT_MISSING, Component.GLOBAL_SUM, month,
                "The global sum rests on a stand-in list: "
                + ("a missing payment is found, but the amount is not judged."
                   if approximate else "the last quarter's list, carried forward."),
                [list_fact],
            )  # fmt: skip
        parts = (("GSUM", gross), ("GSUMOOH", -deduction)) if ooh is not None else ()
        self._add(
            Component.GLOBAL_SUM, month, amount, derivation, approximate=approximate,
            interim=interim, parts=parts,
        )  # fmt: skip

    def _opted_out(self) -> tuple[bool, str]:
        directory = self.facts.directory
        if directory is not None and directory.out_of_hours_opt_out is not None:
            return directory.out_of_hours_opt_out, "practice directory"
        if self.facts.lines.ooh_lines:
            return True, "not in the directory yet: the statements carry the deduction"
        return False, "not in the directory yet, and no deduction on the statements"

    # -- QOF

    def _declaration(self, year: int) -> QofDeclaration | None:
        return next((d for d in self.facts.declarations if d.financial_year == year), None)

    def _registered_on(self, day: date) -> int | None:
        return next(
            (r.registered_patients for r in self.facts.list_sizes if r.quarter_start == day),
            None,
        )

    def _qof_aspiration(self) -> None:
        for year in sorted({financial_year(m) for m in self.months}):
            prior = self._declaration(year - 1)
            share = self.book.rate(RateKind.QOF_ASPIRATION, date(year, APRIL, 1))
            year_months = [m for m in self.months if financial_year(m) == year]
            if prior is None or prior.state not in DUE_STATES or share is None:
                self._note(
                    NoteKind.FACT_MISSING, Component.QOF_ASPIRATION, year_months[0],
                    f"QOF aspiration for {year_label(year)} is not checked: the "
                    f"{year_label(year - 1)} achievement has not been approved here.",
                    [("Declaration", "none" if prior is None else prior.state.value)],
                )  # fmt: skip
                continue
            retired = prior.retired_pence or 0
            basis = prior.achievement_pence - retired
            now, then = (
                self._registered_on(date(year, JANUARY, 1)),
                self._registered_on(date(year - 1, JANUARY, 1)),
            )
            ratio = Decimal(now) / Decimal(then) if now and then else Decimal(1)
            monthly = round_pence(share.value / 100 * Decimal(basis) * ratio / MONTHS_A_YEAR)
            derivation = [
                (
                    f"QOF achievement {year_label(year - 1)}",
                    f"{pounds_text(prior.achievement_pence)} ({prior.state.value}, approved "
                    f"{prior.approved_on})",
                ),
                (
                    "Retired indicators",
                    f"{pounds_text(retired)} of it earned on indicators retired for "
                    f"{year_label(year)}, left out"
                    if retired
                    else "none recorded",
                ),
                ("Aspiration share", share.describe()),
                (
                    "List size adjustment",
                    f"x {now:,} / {then:,} registered on 1 January (the point value rises "
                    "with the national average list, so uprating and the CPI change come to "
                    "the practice's own list ratio)"
                    if now and then
                    else "not applied: the registered list on 1 January of both years is not "
                    "recorded",
                ),
                (
                    "This month",
                    f"{pounds_text(monthly)} = share x {pounds_text(basis)} x adjustment / 12",
                ),
            ]
            known = prior.approved_on
            provisional = self.facts.lines.march_aspiration.get(year - 1)
            for month in year_months:
                interim = None
                steps = list(derivation)
                if known is not None and month_end(month) < known and provisional:
                    settle = month_end(add_months(known, 1))
                    interim = (provisional, settle)
                    steps.append(
                        (
                            "Provisional",
                            f"due before the {year_label(year - 1)} achievement was approved "
                            f"({known}): last year's {pounds_text(provisional)} a month stood "
                            f"in, to be trued up by {settle}",
                        )
                    )
                self._add(Component.QOF_ASPIRATION, month, monthly, steps, interim=interim)

    def _qof_balances(self) -> None:
        for declaration in self.facts.declarations:
            if declaration.state not in DUE_STATES:
                continue
            due = balance_due(self.book, declaration)
            if due is None or due < self.start or due > month_end(self.months[-1]):
                continue
            paid, said = aspiration_paid(self.facts, declaration)
            year = declaration.financial_year
            amount = declaration.achievement_pence - paid
            approved = declaration.approved_on
            commissioner = self.book.commissioner(Component.QOF_ACHIEVEMENT, date(year, 4, 1))
            self.expectations.append(
                Expectation(
                    ods_code=self.facts.ods_code,
                    component=Component.QOF_ACHIEVEMENT,
                    covers_from=date(year, APRIL, 1),
                    covers_to=date(year + 1, 3, 31),
                    due_on=due,
                    amount_pence=amount,
                    derivation=(
                        (
                            "Declaration",
                            f"{year_label(year)}, achievement as at 31 March {year + 1}: "
                            f"{pounds_text(declaration.achievement_pence)}",
                        ),
                        ("CQRS state", declaration.state.value),
                        ("Approved", "-" if approved is None else approved.isoformat()),
                        ("Aspiration paid", f"{pounds_text(paid)} ({said})"),
                        (
                            "Balance",
                            f"{pounds_text(amount)} = achievement - aspiration paid"
                            + (" (a recovery)" if amount < 0 else ""),
                        ),
                        (
                            "Commissioner",
                            self.book.describe_commissioner(
                                Component.QOF_ACHIEVEMENT, date(year, 4, 1)
                            ),
                        ),
                        ("Due", due.isoformat()),
                    ),
                    declaration_state=declaration.state,
                    basis=Basis.BALANCE,
                    commissioner=None if commissioner is None else commissioner.commissioner,
                )
            )

    # -- LMC levies

    def _levies(self) -> None:
        lmc = self.facts.lmc_code
        if lmc is None:
            return
        for kind, component in (
            (RateKind.LMC_STATUTORY, Component.LMC_STATUTORY_LEVY),
            (RateKind.LMC_VOLUNTARY, Component.LMC_VOLUNTARY_LEVY),
        ):
            for month in self.months:
                # PCSE deducts levies only for LMCs that asked it to: no rate, no deduction.
                rate = self.book.rate(kind, month, scope=lmc)
                if rate is None:
                    continue
                registered, _, list_fact, _ = self._list(month)
                if registered is None:
                    continue
                amount = -round_pence(Decimal(registered) * rate.value / MONTHS_A_YEAR)
                self._add(
                    component, month, amount,
                    [
                        list_fact,
                        (f"{lmc} levy rate", rate.describe()),
                        ("This month", f"{pounds_text(-amount)} deducted = registered x rate "
                         "/ 12"),
                    ],
                )  # fmt: skip

    # -- training

    def _days_placed(self, placement: TraineePlacement, month: date) -> int:
        first = max(placement.starts_on, month)
        last = min(placement.ends_on, month_end(month))
        return max((last - first).days + 1, 0)

    def _trainee_pay(
        self, placement: TraineePlacement, on: date, known_on: date | None
    ) -> TraineePay | None:
        changes = [
            c
            for c in self.facts.trainee_pay.get(placement.id, ())
            if c.applies_from <= on and _known(c.decided_on, known_on)
        ]
        if not changes:
            return None
        return max(changes, key=lambda c: (c.applies_from, c.decided_on or c.applies_from))

    def _trainees(self) -> None:
        for placement in self.facts.placements:
            for month in self.months:
                days = self._days_placed(placement, month)
                if not days:
                    continue
                on = max(month, placement.starts_on)
                change = self._trainee_pay(placement, on, self.known_on)
                monthly = placement.monthly_pence if change is None else change.monthly_pence
                in_month = calendar.monthrange(month.year, month.month)[1]
                amount = round_pence(Decimal(monthly) * days / in_month)
                part = (
                    f"{pounds_text(amount)} = {pounds_text(monthly)} x {days}/{in_month} days "
                    "(a part month, pro rata)"
                    if days < in_month
                    else pounds_text(amount)
                )
                steps = [
                    ("Placement", f"GP registrar {placement.gmc_number}, "
                     f"{placement.starts_on} to {placement.ends_on}"),
                    ("Monthly reimbursement", pounds_text(monthly)
                     + ("" if change is None else f" from {change.applies_from}")),
                    ("This month", part),
                ]  # fmt: skip
                due = month_end(month)
                before = self._trainee_pay(placement, on, due)
                interim = None
                if change is not None and change is not before and change.decided_on is not None:
                    earlier = placement.monthly_pence if before is None else before.monthly_pence
                    old = round_pence(Decimal(earlier) * days / in_month)
                    settle = month_end(add_months(change.decided_on, 1))
                    interim = (old, settle)
                    steps.append(
                        ("Decided later", f"the revised set-up of {change.decided_on} came "
                         f"after this month was due: {pounds_text(old)} was right on {due}, "
                         f"and the difference is due as arrears by {settle}")
                    )  # fmt: skip
                self._add(
                    Component.TRAINEE_REIMBURSEMENT, month, amount, steps,
                    gmc_number=placement.gmc_number, interim=interim,
                )  # fmt: skip

    def _training_grant(self) -> None:
        """The trainer's grant: a year's rate / 12 for each registrar placed, pro rata by days,
        paid a month in arrears (the North West's published practice; other regions pay by
        rotation)."""
        directory = self.facts.directory
        if directory is not None and directory.training_practice is False:
            return
        for placement in self.facts.placements:
            for month in self.months:
                days = self._days_placed(placement, month)
                rate = self.book.rate(RateKind.TRAINING_GRANT, month)
                if not days or rate is None:
                    continue
                in_month = calendar.monthrange(month.year, month.month)[1]
                amount = round_pence(rate.value * days / in_month / MONTHS_A_YEAR)
                due = month_end(add_months(month, 1))
                self._add(
                    Component.TRAINING_GRANT, month, amount,
                    [
                        ("Trainer's grant", rate.describe()),
                        ("Registrar placed", f"{placement.gmc_number}, {days}/{in_month} days"),
                        ("This month", f"{pounds_text(amount)} = a year / 12"
                         + (", pro rata for a part month" if days < in_month else "")),
                    ],
                    gmc_number=placement.gmc_number,
                    due=(due, "a month in arrears, in the next month's main payment"),
                )  # fmt: skip

    # -- pensions

    def _in_post(self, gmc_number: str, month: date) -> bool:
        """Whether the performer held a post at the practice in ``month``, as far as we know.

        With no membership on record (the directory copy may lag) the estimate is taken at its
        word; once memberships are known, months after the last one ended expect nothing, nor
        do months after a removal from the performers list.
        """
        removed = [
            s.effective_date
            for s in self.facts.status_changes
            if s.gmc_number == gmc_number and s.to_status in OFF_THE_LIST
        ]
        restored = [
            s.effective_date
            for s in self.facts.status_changes
            if s.gmc_number == gmc_number and s.to_status not in OFF_THE_LIST
        ]
        if removed and max(removed) < month and not any(r > max(removed) for r in restored):
            return False
        known = [m for m in self.facts.memberships if m.gmc_number == gmc_number]
        if not known:
            return True
        return any(
            m.start_date <= month_end(month) and (m.end_date is None or m.end_date >= month)
            for m in known
        )

    def _suspended(self, gmc_number: str, month: date) -> PerformerStatusChange | None:
        """The suspension in force during ``month``, if the performer was suspended."""
        changes = sorted(
            (s for s in self.facts.status_changes if s.gmc_number == gmc_number),
            key=lambda s: s.effective_date,
        )
        current = None
        for change in changes:
            if change.effective_date > month_end(month):
                break
            current = change
        if current is not None and current.to_status == SUSPENDED:
            return current
        return None

    def _pensions(self) -> None:
        beside = self.facts.lines.levy_beside
        for estimate in self.facts.estimates:
            year = estimate.financial_year
            year_start = date(year, APRIL, 1)
            pay = estimate.pensionable_pay_pence
            known_pay = self.facts.pay_across_posts.get((estimate.gmc_number, year), pay)
            tier = self.book.tier(known_pay, year_start)
            declared = estimate.declared_tier
            employer = self.book.rate(RateKind.EMPLOYER, year_start)
            levy = self.book.rate(RateKind.ADMIN_LEVY, year_start)
            months = [
                m
                for m in self.months
                if financial_year(m) == year and self._in_post(estimate.gmc_number, m)
            ]
            if not months:
                continue
            computed = None if tier is None else tier.value
            employee_rate = declared if declared is not None else computed
            employee_said = (
                f"{declared.normalize():f}%, the tier the practice declared on the estimate"
                if declared is not None
                else f"{tier.value.normalize():f}%, the tier for {pounds_text(known_pay)} "
                "across the posts known here (no tier declared)"
                if tier is not None
                else "not known"
            )
            if declared is not None and tier is not None and tier.value != declared:
                self._note(
                    NoteKind.TIER_DIFFERS, Component.EMPLOYEE_SUPERANNUATION, months[0],
                    f"The estimate declares {declared.normalize():f}% for performer "
                    f"{estimate.gmc_number}; the pay this service knows, "
                    f"{pounds_text(known_pay)}, is the {tier.value.normalize():f}% tier. "
                    "The tier follows pay across all practitioner posts, which can be more "
                    "than this practice sees (locum work, other posts); deductions are checked "
                    "at the declared tier.",
                    [("Estimate", f"{pounds_text(pay)} here, submitted "
                      f"{estimate.submitted_on}"),
                     ("Source", "PCSE estimates: PCSE deducts at the tier the practice "
                      "declares; NHSBSA: tiers on actual pay across all posts")],
                    gmc_number=estimate.gmc_number,
                )  # fmt: skip
            basis = [
                (
                    "Estimate",
                    f"{year_label(year)} pensionable pay at {self.facts.ods_code}: "
                    f"{pounds_text(pay)} a year (submitted {estimate.submitted_on})",
                ),
            ]
            deductions: list[tuple[Component, Decimal, str, frozenset[Component]]] = []
            if employee_rate is not None:
                deductions.append(
                    (Component.EMPLOYEE_SUPERANNUATION, employee_rate, employee_said, frozenset())
                )
            if employer is not None:
                if beside or levy is None:
                    deductions.append(
                        (Component.EMPLOYER_SUPERANNUATION, employer.value, employer.describe(),
                         frozenset())
                    )  # fmt: skip
                    if levy is not None:
                        deductions.append(
                            (Component.PENSION_ADMIN_LEVY, levy.value,
                             f"{levy.describe()}, on its own line as this practice's "
                             "statements show it", frozenset())
                        )  # fmt: skip
                else:
                    deductions.append(
                        (
                            Component.EMPLOYER_SUPERANNUATION,
                            employer.value + levy.value,
                            f"{(employer.value + levy.value).normalize():f}%: the practice's "
                            f"{employer.value.normalize():f}% and the "
                            f"{levy.value.normalize():f}% levy in one line ({employer.source})",
                            frozenset(
                                {Component.EMPLOYER_SUPERANNUATION, Component.PENSION_ADMIN_LEVY}
                            ),
                        )
                    )
            noted = False
            for month in months:
                suspension = self._suspended(estimate.gmc_number, month)
                if suspension is not None and not noted:
                    noted = True  # once for the suspension, from its first month here
                    self._note(
                        NoteKind.PERFORMER_SUSPENDED, Component.EMPLOYEE_SUPERANNUATION, month,
                        f"Performer {estimate.gmc_number} is suspended from the performers "
                        f"list (from {suspension.effective_date}). Contributions can rightly "
                        "continue: a practice claiming locum cover for a suspended GP must "
                        "keep paying them at least 90% of their usual income, and NHS England "
                        "may make suspension payments. Check the practice still pays them; "
                        "if it does not, ask PCSE to stop the deductions.",
                        [("Suspended", f"{suspension.effective_date} "
                          f"({suspension.decision or 'list decision'})"),
                         ("Sources", "SI 2013/335 reg 13 and the Secretary of State's "
                          "suspension payments determination; GMS SFE 2013 Part 4 "
                          "(locum cover for a suspended GP, paid while the practice keeps "
                          "paying the GP at least 90%)")],
                        gmc_number=estimate.gmc_number,
                    )  # fmt: skip
                for component, rate, said, counts in deductions:
                    amount = -round_pence(Decimal(pay) * rate / 100 / MONTHS_A_YEAR)
                    self._add(
                        component, month, amount,
                        [*basis, ("Rate", said),
                         ("This month", f"{pounds_text(-amount)} deducted = pay x "
                          f"{rate.normalize():f}% / 12")],
                        gmc_number=estimate.gmc_number,
                        pensionable_pence=pay,
                        rate=rate,
                        counts=counts,
                    )  # fmt: skip

    # -- claims

    def _claims(self) -> None:
        for claim in self.facts.claims:
            if claim.state not in {ClaimState.APPROVED, ClaimState.PAID}:
                continue
            if claim.approved_on is None:
                continue
            due = claim_due(claim.component, claim.approved_on)
            if due < self.start:
                continue
            commissioner = self.book.commissioner(
                claim.component, claim.covers_from, claim.paycode or ""
            )
            self.expectations.append(
                Expectation(
                    ods_code=self.facts.ods_code,
                    component=claim.component,
                    covers_from=claim.covers_from,
                    covers_to=claim.covers_to,
                    due_on=due,
                    amount_pence=claim.amount_pence,
                    derivation=(
                        ("Claim", f"{claim.reference}: {claim.description}"),
                        ("Claimed", claim.claimed_on.isoformat()),
                        ("Approved", claim.approved_on.isoformat()),
                        ("Amount approved", pounds_text(claim.amount_pence)),
                        (
                            "Commissioner",
                            self.book.describe_commissioner(
                                claim.component, claim.covers_from, claim.paycode or ""
                            ),
                        ),
                        ("Due", f"{due}, {claim_due_said(claim.component)}"),
                    ),
                    paycodes=frozenset({claim.paycode}) if claim.paycode else frozenset(),
                    claim_reference=claim.reference,
                    basis=Basis.CLAIM,
                    commissioner=None if commissioner is None else commissioner.commissioner,
                )
            )


def balance_due(book: RateBook, declaration: QofDeclaration) -> date | None:
    """The end of June after the year, or the end of the month after a later approval."""
    deadline = book.deadline(DeadlineKind.QOF_ACHIEVEMENT, declaration.financial_year)
    if deadline is None:
        return None
    approved = declaration.approved_on
    if approved is not None and approved > deadline:
        return month_end(add_months(approved, 1))
    return deadline


def aspiration_paid(facts: PracticeFacts, declaration: QofDeclaration) -> tuple[int, str]:
    """What was paid as aspiration for the declaration's year: the statements' lines when they
    cover the whole year, else CQRS's figure as the declaration records it."""
    year = declaration.financial_year
    lines = facts.lines.aspiration_paid.get(year, 0)
    whole = facts.schedule_start is not None and facts.schedule_start <= date(year, APRIL, 1)
    recorded = declaration.aspiration_paid_pence
    if whole or recorded is None:
        held = facts.lines.aspiration_months.get(year, 0)
        return lines, (
            f"the net of the aspiration lines on the statements, {held} of 12 months"
            + ("" if whole else "; the statements held start later in the year")
        )
    return recorded, "as CQRS shows it; the statements held start later in the year"


PRICED_BY_NHSBSA: Final = frozenset(
    {Component.DRUGS, Component.DISPENSING_FEES, Component.PRESCRIPTION_CHARGE_INCOME}
)


def claim_due(component: Component, approved_on: date) -> date:
    """When an approved claim should be paid. Dispensing is priced by NHSBSA and paid in that
    month's run (NHSBSA "dispensing doctor payments": data dispatched by the 15th of the month
    it is priced); any other claim lands in the next payment run, by the end of the month after
    its approval (PCSE; no published service level)."""
    if component in PRICED_BY_NHSBSA:
        return month_end(approved_on)
    return month_end(add_months(approved_on, 1))


def claim_due_said(component: Component) -> str:
    if component in PRICED_BY_NHSBSA:
        return "the end of the month NHSBSA priced it (that month's run)"
    return "the end of the month after approval (the next run)"


def _known(decided_on: date | None, known_on: date | None) -> bool:
    return known_on is None or decided_on is None or decided_on <= known_on


def _latest_value(rows: Sequence[ContractValue]) -> ContractValue:
    """The contract value in force: the latest to apply, and of those the latest decided."""
    return max(rows, key=lambda v: (v.effective_from, v.decided_on or v.effective_from))


def _weighted(value: Decimal | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


def _label(component: Component) -> str:
    words = component.value.replace("_", " ")
    for acronym in ("qof", "pms", "apms", "lmc", "pcn"):
        words = words.replace(acronym, acronym.upper())
    return words
