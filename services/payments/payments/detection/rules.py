"""Detecting what went wrong with a practice's payments, with the evidence to claim it.

:func:`detect` is pure: given the practice's expected schedule, its statement lines, the facts
the schedule came from and the rates, it returns every problem as of a day. The service
persists the result (:func:`payments.detection.service.sync_anomalies`) whenever statements,
expectations or directory events arrive, keeping when each problem was first detected and when
it was put right.

The statements are read the way a medical accountant reads them:

- A line counts what it did to the bank balance: ``paid`` its amount, ``reversed`` minus it;
  ``authorised``, ``entered`` and ``failed`` lines have not reached the bank. One that stays
  there past its due date is stuck.
- Every line for one item is judged by the net: a second line with a different amount is an
  adjustment (a top-up, a recovery, a list-size correction); only the same amount repeated is a
  duplicate.
- A line covering several months is judged with them: months joined by such lines are one
  span, whose expectations and lines are compared as totals (arrears of a backdated uplift, a
  quarterly levy, a QOF true-up).
- A year-end pension balancing line settles the year: it never fills a month in which nothing
  was deducted, and is never a duplicate.
- One finding per sum of money: a stuck line that explains why an item is unpaid is the
  finding, not also a missing payment; a catch-up covers the months it pays.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Final

from payments.models import (
    AnomalyKind,
    ChainStatus,
    Component,
    DeadlineKind,
    DeclarationState,
    Direction,
    LineTreatment,
    Severity,
    TimingKind,
)
from payments.rates import (
    month_end,
    month_start,
    months_between,
    next_working_day,
    pounds_text,
    year_label,
)
from payments.schedule.rules import (
    MEMBER_DEDUCTIONS,
    OFF_THE_LIST,
    Basis,
    aspiration_paid,
    line_effect,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from payments.models import LineRow
    from payments.rates import RateBook
    from payments.schedule.rules import Derivation, Expectation, PracticeFacts

TOLERANCE_PENCE: Final = 100
"""Variances up to £1 are rounding between PCSE's arithmetic and ours, not a claim..."""
TOLERANCE_SHARE: Final = Decimal("0.0001")
"""...and on a large payment, up to 0.01% of it (£10 on a £100,000 global sum): PCSE rounds
some rates per patient before applying them, which moves a month by a few pounds."""
CATCH_UP_RATIO: Final = Decimal("1.5")
"""A month's deduction half as large again as the estimate says is arrears taken at once."""
PENDING: Final = frozenset({ChainStatus.AUTHORISED, ChainStatus.ENTERED, ChainStatus.FAILED})
COUNTED: Final = frozenset({ChainStatus.PAID, ChainStatus.REVERSED})

SEVERITY = {
    AnomalyKind.MISSING: Severity.HIGH,
    AnomalyKind.LATE: Severity.WARNING,
    AnomalyKind.DUPLICATE: Severity.HIGH,
    AnomalyKind.INCORRECT_AMOUNT: Severity.HIGH,
    AnomalyKind.PENSION_GAP: Severity.WARNING,
    AnomalyKind.PENSION_CATCH_UP: Severity.HIGH,
    AnomalyKind.WRONG_TIER: Severity.HIGH,
    AnomalyKind.LEAVER_SUPERANNUATION: Severity.HIGH,
    AnomalyKind.STUCK: Severity.HIGH,
    AnomalyKind.STUCK_DECLARATION: Severity.WARNING,
}


@dataclass(frozen=True)
class Detected:
    """One problem as detected now; ``fingerprint`` says whether it is the same one as before."""

    kind: AnomalyKind
    ods_code: str
    component: Component
    covers_from: date
    amount_at_stake_pence: int
    direction: Direction
    summary: str
    facts: Derivation
    derivation: Derivation = ()
    line_ids: tuple[int, ...] = ()
    gmc_number: str | None = None
    covers_to: date | None = None
    claim_reference: str | None = None
    discriminator: str = ""
    """Tells apart two problems of one kind, component and month (two paycodes paid twice)."""

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]

    @property
    def fingerprint(self) -> str:
        return "|".join(
            (
                self.kind.value,
                self.ods_code,
                self.component.value,
                self.covers_from.isoformat(),
                self.gmc_number or "",
                self.claim_reference or "",
                self.discriminator,
            )
        )

    @property
    def evidence(self) -> dict[str, object]:
        return {
            "facts": [list(pair) for pair in self.facts],
            "derivation": [list(pair) for pair in self.derivation],
            "lineIds": list(self.line_ids),
        }


def effect(line: LineRow) -> int:
    """What a line did to the practice's bank balance, in pence."""
    return line_effect(line)


def direction(variance: int) -> Direction:
    """Less in the bank than due (a payment short, a deduction too big) is owed to the
    practice; more is repayable by it."""
    return Direction.OWED_TO_PRACTICE if variance < 0 else Direction.REPAYABLE_BY_PRACTICE


@cache
def label(component: Component) -> str:
    """A component's name as a statement prints it: ``QOF aspiration``, ``LMC statutory levy``."""
    words = component.value.replace("_", " ")
    for acronym in ("qof", "apms", "pms", "lmc", "pcn", "errbo"):
        words = words.replace(acronym, acronym.upper())
    return words[0].upper() + words[1:]


def _months(line: LineRow) -> list[date]:
    return months_between(line.covers_from, line.covers_to)


def _describe(line: LineRow) -> tuple[str, str]:
    paid = f", paid {line.paid_on}" if line.paid_on else ""
    who = f", performer {line.gmc_number}" if line.gmc_number else ""
    remittance = f", remittance {line.remittance_ref}" if line.remittance_ref else ""
    return (
        f"Line {line.id}",
        f"{line.paycode} {pounds_text(line.amount_pence)} for {line.covers_from} to "
        f"{line.covers_to}, {line.status.value}{paid}{who}{remittance}",
    )


def _tolerance(expected: int) -> int:
    return max(TOLERANCE_PENCE, int(abs(expected) * TOLERANCE_SHARE))


_key: Callable[[LineRow], tuple[object, ...]] = itemgetter(2, 3, 6, 7, 17, 5)
"""A payment: the same one if every one of these is the same: the line's component, paycode,
covers_from, covers_to, gmc_number and amount_pence (picked out in C: detection takes the key
of every line)."""


def _allowed(due: date) -> date:
    """A bank credit cannot land on a weekend or bank holiday: due then, the next working day
    is not late (DOMAIN.md section 2, L)."""
    return next_working_day(due)


@dataclass
class _Span:
    """Months of one item joined by lines that cover more than one of them."""

    expectations: list[Expectation]
    lines: list[LineRow]
    stuck: list[LineRow]

    @property
    def first(self) -> Expectation:
        return self.expectations[0]

    @property
    def last(self) -> Expectation:
        return self.expectations[-1]

    def share(self, line: LineRow) -> int:
        """The part of a line that falls in this span's months."""
        months = _months(line)
        mine = {e.covers_from for e in self.expectations}
        value = effect(line) if line.status in COUNTED else line.amount_pence
        if all(m in mine for m in months):
            return value
        whole, left = divmod(abs(value), len(months))
        part = sum(
            whole + (1 if index < left else 0)
            for index, month in enumerate(months)
            if month in mine
        )
        return part if value >= 0 else -part


def detect(
    *,
    ods_code: str,
    expectations: Sequence[Expectation],
    lines: Sequence[LineRow],
    facts: PracticeFacts,
    book: RateBook,
    treatments: Mapping[str, LineTreatment],
    today: date,
) -> list[Detected]:
    """Every problem with the practice's payments as of ``today``, in a stable order."""
    return _Detection(
        ods_code=ods_code, expectations=expectations, lines=lines, facts=facts, book=book,
        treatments=treatments, today=today,
    ).found  # fmt: skip


class _Detection:
    def __init__(
        self,
        *,
        ods_code: str,
        expectations: Sequence[Expectation],
        lines: Sequence[LineRow],
        facts: PracticeFacts,
        book: RateBook,
        treatments: Mapping[str, LineTreatment],
        today: date,
    ) -> None:
        self.ods_code = ods_code
        self.facts = facts
        self.book = book
        self.today = today
        self.treatments = treatments
        self.found: list[Detected] = []
        treatments_get, regular_treatment = treatments.get, LineTreatment.REGULAR
        regular = [
            ln
            for ln in lines
            if treatments_get(ln.paycode, regular_treatment) is not LineTreatment.YEAR_END
        ]
        counted = [ln for ln in regular if ln.status in COUNTED]
        self.repeats, paid_keys = self._duplicates(counted)
        self.counted = [ln for ln in counted if ln.id not in self.repeats]
        self.pending = [ln for ln in regular if ln.status in PENDING and _key(ln) not in paid_keys]
        self.pending_ids = {ln.id for ln in self.pending}
        self.reported_stuck: set[int] = set()
        self.balances = {e.covers_from.year: e for e in expectations if e.basis is Basis.BALANCE}
        claims = [e for e in expectations if e.basis is Basis.CLAIM]
        claimed = self._claims(claims)
        for expectation in self.balances.values():
            self._balance(expectation)
        self._monthly([e for e in expectations if e.basis is Basis.MONTHLY], claimed)
        self._stuck_rest(expectations)
        self._declarations()
        self._leavers([*self.counted])
        self.found.sort(key=lambda d: d.fingerprint)

    def _treatment(self, line: LineRow) -> LineTreatment:
        return self.treatments.get(line.paycode, LineTreatment.REGULAR)

    def _problem(
        self,
        kind: AnomalyKind,
        at_stake: int,
        summary: str,
        *,
        expectation: Expectation | None = None,
        component: Component | None = None,
        covers_from: date | None = None,
        covers_to: date | None = None,
        way: Direction,
        facts: Iterable[tuple[str, str]] = (),
        lines: Iterable[LineRow] = (),
        discriminator: str = "",
        gmc_number: str | None = None,
    ) -> None:
        lines = list(lines)
        start = covers_from or (expectation.covers_from if expectation else None)
        assert start is not None
        self.found.append(
            Detected(
                kind=kind,
                ods_code=self.ods_code,
                component=component or (expectation.component if expectation else Component.OTHER),
                covers_from=start,
                covers_to=covers_to,
                amount_at_stake_pence=abs(at_stake),
                direction=way,
                summary=summary,
                facts=(*facts, *(_describe(ln) for ln in lines)),
                derivation=() if expectation is None else expectation.derivation,
                line_ids=tuple(ln.id for ln in lines),
                gmc_number=gmc_number or (expectation.gmc_number if expectation else None),
                claim_reference=None if expectation is None else expectation.claim_reference,
                discriminator=discriminator,
            )
        )

    # -- the same payment twice

    def _duplicates(self, counted: Sequence[LineRow]) -> tuple[set[int], set[tuple[object, ...]]]:
        """The ids of the repeats, and the keys of the payments made (paid at least once)."""
        groups: dict[tuple[object, ...], list[LineRow]] = defaultdict(list)
        for line in counted:
            groups[_key(line)].append(line)
        repeats: set[int] = set()
        paid_keys: set[tuple[object, ...]] = set()
        for key, group in groups.items():
            if len(group) == 1:  # most payments: one line, nothing repeated
                if group[0].status is ChainStatus.PAID:
                    paid_keys.add(key)
                continue
            paid = [ln for ln in group if ln.status is ChainStatus.PAID]
            if paid:
                paid_keys.add(key)
            reversed_ = [ln for ln in group if ln.status is ChainStatus.REVERSED]
            times = len(paid) - len(reversed_)
            if times < 2 or paid[0].amount_pence == 0:  # noqa: PLR2004 - twice is a duplicate
                continue
            # The first payment stands; the repeats (and the reversals that cancel some of
            # them) are not part of the item's net.
            extra = paid[1:]
            repeats.update(ln.id for ln in extra)
            repeats.update(ln.id for ln in reversed_)
            first = paid[0]
            at_stake = (times - 1) * first.amount_pence
            taken = "deducted" if first.component.is_deduction else "paid"
            self._problem(
                AnomalyKind.DUPLICATE,
                at_stake,
                f"{first.paycode} {pounds_text(first.amount_pence)} for {first.covers_from} to "
                f"{first.covers_to} was {taken} {times} times: "
                f"{pounds_text(abs(at_stake))} more than once.",
                component=first.component,
                covers_from=month_start(first.covers_from),
                covers_to=first.covers_to if _months(first)[1:] else None,
                way=Direction.REPAYABLE_BY_PRACTICE
                if first.amount_pence > 0
                else Direction.OWED_TO_PRACTICE,
                facts=[("Same payment", "same paycode, period, performer and amount")],
                lines=group,
                discriminator=f"{first.paycode}|{first.covers_to}|{first.amount_pence}",
                gmc_number=first.gmc_number,
            )
        return repeats, paid_keys

    # -- stuck in the payment chain

    def _stuck(self, lines: Iterable[LineRow], due: date, expectation: Expectation | None) -> int:
        """Report the pending lines past ``due`` as stuck; their total."""
        total = 0
        for line in lines:
            if line.id in self.reported_stuck or self.today <= due:
                continue
            self.reported_stuck.add(line.id)
            total += line.amount_pence
            where = {
                ChainStatus.AUTHORISED: f"authorised on {line.authorised_on} and never entered "
                "for payment",
                ChainStatus.ENTERED: f"entered on {line.entered_on} and not paid",
                ChainStatus.FAILED: f"failed on {line.failed_on} and not run again",
            }[line.status]
            months = _months(line)
            self._problem(
                AnomalyKind.STUCK,
                line.amount_pence,
                f"{line.paycode} {pounds_text(line.amount_pence)} for {line.covers_from} to "
                f"{line.covers_to} is stuck: {where}; it was due by {due}.",
                expectation=expectation,
                component=line.component,
                covers_from=months[0],
                covers_to=line.covers_to if months[1:] else None,
                way=direction(-line.amount_pence),
                facts=[("Due", due.isoformat()), ("Where it stopped", line.status.value)],
                lines=[line],
                discriminator=f"line {line.id}",
                gmc_number=line.gmc_number,
            )
        return total

    def _stuck_rest(self, expectations: Sequence[Expectation]) -> None:
        """Pending lines no expectation took: stuck once the end of their period has passed."""
        for line in self.pending:
            if line.id in self.reported_stuck:
                continue
            self._stuck([line], month_end(line.covers_to), None)

    # -- claims

    def _claims(self, claims: Sequence[Expectation]) -> set[int]:
        """Each line of a claimed component goes to the claim whose period it overlaps most."""
        taken: dict[str, list[LineRow]] = defaultdict(list)
        used: set[int] = set()
        for line in [*self.counted, *self.pending]:
            best: tuple[int, Expectation] | None = None
            for claim in claims:
                if line.component is not claim.component:
                    continue
                if claim.paycodes and line.paycode not in claim.paycodes:
                    continue
                overlap = (
                    min(line.covers_to, claim.covers_to) - max(line.covers_from, claim.covers_from)
                ).days
                if overlap < 0:
                    continue
                if best is None or overlap > best[0]:
                    best = (overlap, claim)
            if best is not None:
                taken[best[1].claim_reference or ""].append(line)
                used.add(line.id)
        for claim in claims:
            mine = taken.get(claim.claim_reference or "", [])
            self._judge_single(claim, mine)
        return used

    def _judge_single(self, expectation: Expectation, lines: list[LineRow]) -> None:
        """A claim or a QOF balance: one amount, all its lines by their net."""
        counted = [ln for ln in lines if ln.status in COUNTED]
        pending = [ln for ln in lines if ln.id in self.pending_ids]
        if self.today <= expectation.due_on and not counted:
            return
        stuck = self._stuck(pending, expectation.due_on, expectation)
        net = sum(effect(ln) for ln in counted)
        span_to = expectation.covers_to if expectation.basis is not Basis.MONTHLY else None
        what = _what(expectation)
        if not any(effect(ln) for ln in counted) and not stuck:
            if self.today <= expectation.due_on:
                return
            self._problem(
                AnomalyKind.MISSING,
                expectation.amount_pence,
                f"{what}: {pounds_text(abs(expectation.amount_pence))} was due by "
                f"{expectation.due_on} and has not been "
                f"{'paid' if expectation.amount_pence > 0 else 'recovered'}.",
                expectation=expectation,
                covers_from=month_start(expectation.covers_from),
                covers_to=span_to,
                way=direction(-expectation.amount_pence),
                facts=[("Expected", f"{pounds_text(expectation.amount_pence)} by "
                        f"{expectation.due_on}")],
                lines=counted,
            )  # fmt: skip
            return
        self._late(expectation, counted, start=month_start(expectation.covers_from), to=span_to)
        variance = net + stuck - expectation.amount_pence
        if (
            abs(variance) <= _tolerance(expectation.amount_pence)
            or self.today <= expectation.due_on
        ):
            return
        self._problem(
            AnomalyKind.INCORRECT_AMOUNT,
            variance,
            f"{what}: {pounds_text(net)} paid against {pounds_text(expectation.amount_pence)} "
            f"due ({pounds_text(variance)}).",
            expectation=expectation,
            covers_from=month_start(expectation.covers_from),
            covers_to=span_to,
            way=direction(variance),
            facts=[
                ("Expected", f"{pounds_text(expectation.amount_pence)} by {expectation.due_on}"),
                ("Net of the lines", pounds_text(net)),
                ("Variance", pounds_text(variance)),
            ],
            lines=lines,
        )

    def _late(
        self, expectation: Expectation, counted: Sequence[LineRow], *, start: date, to: date | None
    ) -> None:
        """Paid after the due date (a payment, not a deduction or an arrears line)."""
        if expectation.amount_pence <= 0:
            return
        regular = [
            ln
            for ln in counted
            if ln.status is ChainStatus.PAID
            and ln.paid_on is not None
            and self._treatment(ln) is LineTreatment.REGULAR
        ]
        if not regular:
            return
        first = min(ln.paid_on for ln in regular if ln.paid_on is not None)
        if first <= _allowed(expectation.due_on):
            return
        late = [ln for ln in regular if ln.paid_on and ln.paid_on > _allowed(expectation.due_on)]
        amount = sum(effect(ln) for ln in late)
        days = (first - expectation.due_on).days
        self._problem(
            AnomalyKind.LATE,
            amount,
            f"{_what(expectation)} was paid on {first}, {days} days after it was due "
            f"({expectation.due_on}).",
            expectation=expectation,
            covers_from=start,
            covers_to=to,
            way=Direction.OWED_TO_PRACTICE,
            facts=[("Due", expectation.due_on.isoformat()), ("Days late", str(days))],
            lines=late,
        )

    # -- QOF achievement balances

    def _balance(self, expectation: Expectation) -> None:
        lines = [
            ln
            for ln in [*self.counted, *self.pending]
            if ln.component is Component.QOF_ACHIEVEMENT
            and expectation.covers_from <= ln.covers_from <= expectation.covers_to
        ]
        self._judge_single(expectation, lines)

    # -- monthly items, judged by span

    def _monthly(self, expectations: Sequence[Expectation], claimed: set[int]) -> None:
        families: dict[tuple[frozenset[Component], str | None], list[Expectation]] = defaultdict(
            list
        )
        for e in expectations:
            families[(e.counted, e.gmc_number)].append(e)
        pool = [ln for ln in [*self.counted, *self.pending] if ln.id not in claimed]
        # Each family's lines, in the pool's order, from the lines of its components alone
        # (not a pass over every line of the practice for each family).
        of_component: dict[Component, list[tuple[int, LineRow]]] = defaultdict(list)
        for position, ln in enumerate(pool):
            of_component[ln.component].append((position, ln))
        for (components, gmc), items in families.items():
            lines = [
                ln
                for _, ln in sorted(
                    (pair for component in components for pair in of_component.get(component, ())),
                    key=itemgetter(0),
                )
                if gmc is None or ln.gmc_number == gmc
            ]
            for span in _spans(sorted(items, key=lambda e: e.covers_from), lines):
                self._judge_span(span)

    def _settled_by_balance(self, expectation: Expectation) -> bool:
        """After a year's QOF balance is due, a month's aspiration shortfall or excess is part
        of the balance (achievement less the aspiration actually paid), not a finding."""
        if expectation.component is not Component.QOF_ASPIRATION:
            return False
        year = expectation.covers_from.year - (expectation.covers_from.month < 4)  # noqa: PLR2004
        balance = self.balances.get(year)
        return balance is not None and self.today > balance.due_on

    def _judge_span(self, span: _Span) -> None:  # noqa: PLR0911 - one outcome per branch
        first, last = span.first, span.last
        if self.today <= last.due_on or all(self._settled_by_balance(e) for e in span.expectations):
            return
        counted = [ln for ln in span.lines if ln.status in COUNTED]
        net = sum(span.share(ln) for ln in counted)
        stuck = self._stuck(span.stuck, last.due_on, first)
        expected = sum(e.amount_pence for e in span.expectations)
        interim = sum(
            e.interim_pence
            if e.interim_pence is not None and e.settle_by is not None and self.today <= e.settle_by
            else e.amount_pence
            for e in span.expectations
        )
        multi = len(span.expectations) > 1
        to = last.covers_to if multi else None

        # What the item is called, made only for a finding: most spans are in order.
        def what() -> str:
            return _what(first) if not multi else f"{_what(first)} to {last.covers_from:%B %Y}"

        lumps = [ln for ln in counted if first.is_pension and len(_months(ln)) > 1]
        for lump in lumps:
            self._catch_up(lump, span)
        if not any(effect(ln) for ln in counted) and not stuck:
            kind = AnomalyKind.PENSION_GAP if first.is_pension else AnomalyKind.MISSING
            zero = " (a £0.00 line was shown)" if counted else ""
            self._problem(
                kind,
                expected,
                f"{what()}: {pounds_text(abs(expected))} was due by {last.due_on} and has not been "
                f"{'deducted' if first.component.is_deduction else 'paid'}{zero}.",
                expectation=first,
                covers_to=to,
                way=direction(-expected),
                facts=[("Expected", f"{pounds_text(expected)} by {last.due_on}")],
                lines=counted,
            )
            return
        if not first.is_pension:
            single = [ln for ln in counted if not _months(ln)[1:]]
            self._late(first, single, start=first.covers_from, to=None)
        remaining = net + stuck
        tolerance = _tolerance(expected)
        if abs(remaining - expected) <= tolerance or abs(remaining - interim) <= tolerance:
            return
        if first.approximate:
            return
        variance = remaining - expected
        facts = [
            ("Expected", f"{pounds_text(expected)} by {last.due_on}"),
            ("Net of the lines", pounds_text(net)),
            ("Variance", f"{pounds_text(variance)} against the expectation"),
        ]
        if first.is_pension and not multi:
            if abs(net) >= CATCH_UP_RATIO * abs(expected) and not lumps:
                self._problem(
                    AnomalyKind.PENSION_CATCH_UP,
                    variance,
                    f"{what()}: {pounds_text(net)} was deducted against {pounds_text(expected)} "
                    "expected: arrears taken at once.",
                    expectation=first,
                    way=Direction.REPAYABLE_BY_PRACTICE,
                    facts=facts,
                    lines=counted,
                )
                return
            tier = _tier_taken(first, net, self.book)
            if tier is not None:
                self._problem(
                    AnomalyKind.WRONG_TIER,
                    variance,
                    f"{what()}: deducted at {tier.normalize():f}% instead of the "
                    f"{(first.rate or Decimal(0)).normalize():f}% declared on the estimate.",
                    expectation=first,
                    way=direction(variance),
                    facts=[
                        *facts,
                        (
                            "Tier taken",
                            f"{pounds_text(net)} is {tier.normalize():f}% of "
                            f"{pounds_text(first.pensionable_pence or 0)} / 12",
                        ),
                    ],
                    lines=counted,
                )
                return
        if lumps and abs(variance) <= tolerance * len(span.expectations):
            return
        self._problem(
            AnomalyKind.INCORRECT_AMOUNT,
            variance,
            f"{what()}: {pounds_text(net)} against {pounds_text(expected)} expected "
            f"({pounds_text(variance)}).",
            expectation=first,
            covers_to=to,
            way=direction(variance),
            facts=facts,
            lines=span.lines,
        )

    def _catch_up(self, lump: LineRow, span: _Span) -> None:
        months = _months(lump)
        by_month = {e.covers_from: e for e in span.expectations}
        taken_in = month_start(lump.paid_on or lump.covers_to)
        one = by_month.get(month_start(lump.covers_to)) or span.last
        at_stake = abs(effect(lump)) - abs(one.amount_pence)
        self._problem(
            AnomalyKind.PENSION_CATCH_UP,
            at_stake,
            f"{pounds_text(abs(effect(lump)))} of {label(lump.component).lower()} for "
            f"{len(months)} months was taken at once on {lump.paid_on}, instead of "
            f"{pounds_text(abs(one.amount_pence))} a month.",
            expectation=one,
            covers_from=taken_in,
            way=Direction.REPAYABLE_BY_PRACTICE,
            facts=[("Months in one deduction", str(len(months)))],
            lines=[lump],
            discriminator=f"line {lump.id}",
        )

    # -- QOF declarations stuck in CQRS

    def _declarations(self) -> None:
        for declaration in self.facts.declarations:
            year = declaration.financial_year
            state = declaration.state
            if state is DeclarationState.AWAITING_PROVIDER_APPROVAL:
                deadline = self.book.deadline(DeadlineKind.QOF_DECLARATION, year)
                if deadline is None or self.today <= deadline:
                    continue
                why = (
                    f"still awaiting the practice's sign-off in CQRS after {deadline}: sign it "
                    "off so the commissioner can approve it"
                )
                facts = [("Sign-off deadline", deadline.isoformat())]
            elif state is DeclarationState.AWAITING_COMMISSIONER_APPROVAL:
                days = self.book.days(TimingKind.COMMISSIONER_APPROVAL, date(year + 1, 4, 1))
                if days is None or declaration.declared_on is None:
                    continue
                waited = (self.today - declaration.declared_on).days
                if waited <= days:
                    continue
                why = (
                    f"awaiting the commissioner's approval for {waited} days since the practice "
                    f"declared it on {declaration.declared_on} (more than {days}): ask the ICB "
                    "to approve it"
                )
                facts = [("Declared", declaration.declared_on.isoformat()),
                         ("Days waiting", str(waited))]  # fmt: skip
            else:
                continue
            paid, said = aspiration_paid(self.facts, declaration)
            at_stake = declaration.achievement_pence - paid
            self._problem(
                AnomalyKind.STUCK_DECLARATION,
                at_stake,
                f"QOF achievement {year_label(year)} is {why}. "
                f"{pounds_text(at_stake)} waits on it.",
                component=Component.QOF_ACHIEVEMENT,
                covers_from=date(year, 4, 1),
                covers_to=date(year + 1, 3, 31),
                way=direction(-at_stake),
                facts=[
                    ("CQRS state", state.value),
                    *facts,
                    ("Achievement", pounds_text(declaration.achievement_pence)),
                    ("Aspiration paid", f"{pounds_text(paid)} ({said})"),
                    ("At stake", f"{pounds_text(at_stake)} = achievement - aspiration paid"),
                ],
            )

    # -- superannuation for a GP who has gone

    def _leavers(self, counted: Sequence[LineRow]) -> None:
        for line in counted:
            if (
                line.status is not ChainStatus.PAID
                or line.gmc_number is None
                or line.component not in MEMBER_DEDUCTIONS
                or line.amount_pence >= 0
            ):
                continue
            gone = self._gone(line.gmc_number)
            if gone is None:
                continue
            left, why = gone
            after = [m for m in _months(line) if m > left]
            if not after:
                continue
            months = _months(line)
            share = abs(line.amount_pence) * len(after) // len(months)
            self._problem(
                AnomalyKind.LEAVER_SUPERANNUATION,
                share,
                f"{pounds_text(share)} of {label(line.component).lower()} was taken for "
                f"performer {line.gmc_number} for {after[0]:%B %Y}, after {why} on {left}.",
                component=line.component,
                covers_from=after[0],
                covers_to=line.covers_to if after[1:] else None,
                way=Direction.OWED_TO_PRACTICE,
                facts=[
                    (
                        "Left the practice" if "left" in why else "Removed",
                        f"{left} (performers list)",
                    ),
                    ("Covers", f"{line.covers_from} to {line.covers_to}"),
                ],
                lines=[line],
                discriminator=f"line {line.id}",
                gmc_number=line.gmc_number,
            )

    def _gone(self, gmc_number: str) -> tuple[date, str] | None:
        """When the performer stopped working here: their last post ended, or the list
        removed them."""
        removed = [
            s.effective_date
            for s in self.facts.status_changes
            if s.gmc_number == gmc_number and s.to_status in OFF_THE_LIST
        ]
        later = [
            s.effective_date
            for s in self.facts.status_changes
            if s.gmc_number == gmc_number and s.to_status not in OFF_THE_LIST
        ]
        if removed and not any(d > max(removed) for d in later):
            return max(removed), "they were removed from the performers list"
        posts = [m for m in self.facts.memberships if m.gmc_number == gmc_number]
        if not posts or any(m.end_date is None for m in posts):
            return None
        ended = max(m.end_date for m in posts if m.end_date is not None)
        return ended, "they left the practice"


def _spans(items: list[Expectation], lines: list[LineRow]) -> list[_Span]:
    """Months joined by lines covering more than one of them; each with its lines."""
    index = {e.covers_from: i for i, e in enumerate(items)}
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    touching: dict[int, list[int]] = {}
    for line in lines:
        found = [index[m] for m in _months(line) if m in index]
        touching[line.id] = found
        for other in found[1:]:
            parent[root(other)] = root(found[0])
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(items)):
        groups[root(i)].append(i)
    # Every month a line touches is in one span (they were joined above), so a line belongs
    # to the span of its first month: one pass over the lines, in their order, not one per span.
    lines_of: dict[int, list[LineRow]] = defaultdict(list)
    for line in lines:
        found = touching[line.id]
        if found:
            lines_of[root(found[0])].append(line)
    spans = []
    for group, members in groups.items():
        mine = lines_of.get(group, [])
        spans.append(
            _Span(
                expectations=[items[i] for i in sorted(members)],
                lines=[ln for ln in mine if ln.status in COUNTED],
                stuck=[ln for ln in mine if ln.status in PENDING],
            )
        )
    return sorted(spans, key=lambda s: s.first.covers_from)


def _what(expectation: Expectation) -> str:
    if expectation.component is Component.QOF_ACHIEVEMENT:
        return f"QOF achievement {year_label(expectation.covers_from.year)}"
    if expectation.claim_reference:
        return f"Claim {expectation.claim_reference} ({label(expectation.component).lower()})"
    who = f" for performer {expectation.gmc_number}" if expectation.gmc_number else ""
    return f"{label(expectation.component)} for {expectation.covers_from:%B %Y}{who}"


def _tier_taken(expectation: Expectation, net: int, book: RateBook) -> Decimal | None:
    """The other contribution tier a deduction was worked out at, if it matches one."""
    if (
        expectation.component is not Component.EMPLOYEE_SUPERANNUATION
        or expectation.pensionable_pence is None
    ):
        return None
    year_start = date(
        expectation.covers_from.year - (expectation.covers_from.month < 4),  # noqa: PLR2004 - April
        4,
        1,
    )
    for band in book.tiers(year_start):
        if band.value == expectation.rate:
            continue
        taken = Decimal(expectation.pensionable_pence) * band.value / 100 / 12
        if abs(taken - abs(net)) <= TOLERANCE_PENCE:
            return band.value
    return None
