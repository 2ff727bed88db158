"""Detecting what went wrong with a practice's payments, with the evidence to claim it.

:func:`detect` is pure: given the practice's expected schedule, its statement lines and its
performers' memberships, it returns every problem as of a day. The service persists the result
(:func:`payments.service.sync_anomalies`) whenever statements, expectations or directory events
arrive, keeping when each problem was first detected and when it was put right.

How lines count: a ``paid`` line counts its amount; a ``reversed`` line is a run's report that
an earlier payment of that amount was taken back, so it cancels one; authorised, entered and
failed lines have not reached the bank and count nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from payments.models import AnomalyKind, ChainStatus, Component, Severity
from payments.rates import month_end, percent_of, pounds_text, year_label
from payments.schedule.rules import PENSION_COMPONENTS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from payments.models import LineRow, PerformerMembership
    from payments.rates import RateBook
    from payments.schedule.rules import Derivation, Expectation

TOLERANCE_PENCE = 100
"""Variances up to £1 are rounding between PCSE's arithmetic and ours, not a claim."""
CATCH_UP_RATIO = Decimal("1.5")
"""A month's deduction half as large again as the estimate says is arrears taken at once."""

SEVERITY = {
    AnomalyKind.MISSING: Severity.HIGH,
    AnomalyKind.LATE: Severity.WARNING,
    AnomalyKind.DUPLICATE: Severity.HIGH,
    AnomalyKind.INCORRECT_AMOUNT: Severity.HIGH,
    AnomalyKind.PENSION_GAP: Severity.WARNING,
    AnomalyKind.PENSION_CATCH_UP: Severity.HIGH,
    AnomalyKind.WRONG_TIER: Severity.HIGH,
    AnomalyKind.LEAVER_SUPERANNUATION: Severity.HIGH,
}
SUPERANNUATION = PENSION_COMPONENTS


@dataclass(frozen=True)
class Detected:
    """One problem as detected now; ``fingerprint`` says whether it is the same one as before."""

    kind: AnomalyKind
    ods_code: str
    component: Component
    covers_from: date
    amount_at_stake_pence: int
    summary: str
    facts: Derivation
    derivation: Derivation = ()
    line_ids: tuple[int, ...] = ()
    gmc_number: str | None = None
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
    if line.status is ChainStatus.PAID:
        return line.amount_pence
    if line.status is ChainStatus.REVERSED:
        return -line.amount_pence
    return 0


def _months(line: LineRow) -> int:
    return (
        (line.covers_to.year - line.covers_from.year) * 12
        + line.covers_to.month
        - line.covers_from.month
        + 1
    )


def _net_count(lines: Iterable[LineRow]) -> int:
    return sum(
        1 if line.status is ChainStatus.PAID else -1
        for line in lines
        if line.status in {ChainStatus.PAID, ChainStatus.REVERSED}
    )


def _describe(line: LineRow) -> tuple[str, str]:
    paid = f", paid {line.paid_on}" if line.paid_on else ""
    who = f", performer {line.gmc_number}" if line.gmc_number else ""
    return (
        f"Line {line.id}",
        f"{line.paycode} {pounds_text(line.amount_pence)} for {line.covers_from} to "
        f"{line.covers_to}, {line.status.value}{paid}{who}",
    )


def label(component: Component) -> str:
    """A component's name as a statement prints it: ``QOF aspiration``, ``LMC statutory levy``."""
    words = component.value.replace("_", " ")
    for acronym in ("qof", "pms", "lmc", "pcn"):
        words = words.replace(acronym, acronym.upper())
    return words[0].upper() + words[1:]


def _what(expectation: Expectation) -> str:
    if expectation.component is Component.QOF_ACHIEVEMENT:
        return f"QOF achievement {year_label(expectation.covers_from.year)}"
    who = f" for performer {expectation.gmc_number}" if expectation.gmc_number else ""
    return f"{label(expectation.component)} for {expectation.covers_from:%B %Y}{who}"


def _covers(line: LineRow, expectation: Expectation) -> bool:
    if line.component is not expectation.component:
        return False
    if expectation.gmc_number is not None and line.gmc_number != expectation.gmc_number:
        return False
    if expectation.component is Component.QOF_ACHIEVEMENT:
        return expectation.covers_from <= line.covers_from <= expectation.covers_to
    return line.covers_from <= expectation.covers_from <= line.covers_to


def detect(
    *,
    ods_code: str,
    expectations: Sequence[Expectation],
    lines: Sequence[LineRow],
    memberships: Sequence[PerformerMembership],
    book: RateBook,
    today: date,
) -> list[Detected]:
    """Every problem with the practice's payments as of ``today``, in a stable order."""
    counted = [ln for ln in lines if ln.status in {ChainStatus.PAID, ChainStatus.REVERSED}]
    found = _duplicates(ods_code, counted)
    duplicated = {(d.component, d.covers_from, d.gmc_number) for d in found}
    catch_ups: set[int] = set()
    # Five years of a practice's lines against five years of expectations: each expectation
    # looks only at the lines of its component (and performer), not at every line.
    by_component: dict[Component, list[LineRow]] = defaultdict(list)
    by_performer: dict[tuple[Component, str], list[LineRow]] = defaultdict(list)
    for line in counted:
        by_component[line.component].append(line)
        if line.gmc_number is not None:
            by_performer[(line.component, line.gmc_number)].append(line)
    for expectation in expectations:
        candidates = (
            by_component[expectation.component]
            if expectation.gmc_number is None
            else by_performer[(expectation.component, expectation.gmc_number)]
        )
        covering = [ln for ln in candidates if _covers(ln, expectation)]
        found += _against(
            expectation,
            covering,
            book=book,
            today=today,
            duplicated=expectation.key in duplicated,
            catch_ups=catch_ups,
        )
    found += _leavers(ods_code, counted, memberships)
    return sorted(found, key=lambda d: d.fingerprint)


def _duplicates(ods_code: str, counted: Sequence[LineRow]) -> list[Detected]:
    groups: dict[tuple[Component, date, str, str | None], list[LineRow]] = defaultdict(list)
    for line in counted:
        # A line naming a performer is that performer's: two GPs' superannuation, or two
        # registrars' reimbursements, are not one thing paid twice.
        who = line.gmc_number
        groups[(line.component, line.covers_from, line.paycode, who)].append(line)
    found = []
    for (component, covers_from, paycode, who), group in groups.items():
        if _net_count(group) < 2:  # noqa: PLR2004 - twice is a duplicate
            continue
        paid = [ln for ln in group if ln.status is ChainStatus.PAID]
        largest = max(abs(ln.amount_pence) for ln in paid)
        at_stake = abs(sum(effect(ln) for ln in group)) - largest
        taken = "deducted" if component.is_deduction else "paid"
        found.append(
            Detected(
                kind=AnomalyKind.DUPLICATE,
                ods_code=ods_code,
                component=component,
                covers_from=covers_from,
                gmc_number=who,
                discriminator=paycode,
                amount_at_stake_pence=max(at_stake, 0),
                summary=f"{paycode} for {covers_from:%B %Y} was {taken} {_net_count(group)} "
                f"times; {pounds_text(at_stake)} more than once.",
                facts=(
                    ("Key", f"practice {ods_code}, {component.value}, {covers_from}, {paycode}"),
                    *(_describe(ln) for ln in group),
                ),
                line_ids=tuple(ln.id for ln in group),
            )
        )
    return found


def _against(  # noqa: PLR0911 - one early return per outcome reads best
    expectation: Expectation,
    covering: list[LineRow],
    *,
    book: RateBook,
    today: date,
    duplicated: bool,
    catch_ups: set[int],
) -> list[Detected]:
    """The problems with one expectation, given the lines that pay (or deduct) it."""
    net = sum(effect(ln) for ln in covering)
    facts = [
        ("Expected", f"{pounds_text(expectation.amount_pence)} by {expectation.due_on}"),
        *(_describe(ln) for ln in covering),
    ]

    def problem(kind: AnomalyKind, at_stake: int, summary: str, **extra: object) -> Detected:
        return Detected(
            kind=kind,
            ods_code=expectation.ods_code,
            component=expectation.component,
            covers_from=expectation.covers_from,
            gmc_number=expectation.gmc_number,
            amount_at_stake_pence=abs(at_stake),
            summary=summary,
            facts=tuple(facts) + tuple(extra.pop("more", ())),  # type: ignore[arg-type]
            derivation=expectation.derivation,
            line_ids=tuple(ln.id for ln in covering),
            **extra,  # type: ignore[arg-type]
        )

    if net == 0:
        if expectation.due_on >= today:
            return []
        kind = AnomalyKind.PENSION_GAP if expectation.is_pension else AnomalyKind.MISSING
        shown = " (a £0.00 line was shown)" if covering else ""
        return [
            problem(
                kind,
                expectation.amount_pence,
                f"{_what(expectation)}: {pounds_text(expectation.amount_pence)} was due by "
                f"{expectation.due_on} and has not been {_verb(expectation)}{shown}.",
            )
        ]

    found = []
    paid_on = min((ln.paid_on for ln in covering if ln.paid_on is not None), default=None)
    if not expectation.is_pension and paid_on is not None and paid_on > expectation.due_on:
        late = (paid_on - expectation.due_on).days
        found.append(
            problem(
                AnomalyKind.LATE,
                net,
                f"{_what(expectation)} was paid on {paid_on}, {late} days after it was due "
                f"({expectation.due_on}).",
                more=[("Days late", str(late))],
            )
        )

    lumps = [ln for ln in covering if _months(ln) > 1]
    if expectation.is_pension and lumps:
        for lump in lumps:
            if lump.id in catch_ups:
                continue
            catch_ups.add(lump.id)
            months = _months(lump)
            at_stake = abs(lump.amount_pence) - abs(expectation.amount_pence)
            found.append(
                problem(
                    AnomalyKind.PENSION_CATCH_UP,
                    at_stake,
                    f"{pounds_text(abs(lump.amount_pence))} of "
                    f"{label(expectation.component).lower()} for {months} months was taken at "
                    f"once on {lump.paid_on}, instead of "
                    f"{pounds_text(abs(expectation.amount_pence))} a month.",
                    more=[("Months in one deduction", str(months))],
                    discriminator=f"line {lump.id}",
                )
            )
        return found
    if duplicated or (expectation.component is Component.QOF_ACHIEVEMENT and len(covering) > 1):
        return found

    variance = net - expectation.amount_pence
    if abs(variance) <= TOLERANCE_PENCE:
        return found
    variance_fact = ("Variance", f"{pounds_text(variance)} against the expectation")
    if expectation.is_pension:
        if abs(net) >= CATCH_UP_RATIO * abs(expectation.amount_pence):
            return [
                *found,
                problem(
                    AnomalyKind.PENSION_CATCH_UP,
                    variance,
                    f"{_what(expectation)}: {pounds_text(net)} was deducted against "
                    f"{pounds_text(expectation.amount_pence)} expected: arrears taken at once.",
                    more=[variance_fact],
                ),
            ]
        tier = _tier_taken(expectation, net, book)
        if tier is not None:
            return [
                *found,
                problem(
                    AnomalyKind.WRONG_TIER,
                    variance,
                    f"{_what(expectation)}: deducted at {tier.normalize():f}% instead of "
                    f"{(expectation.rate or Decimal(0)).normalize():f}% for the estimated "
                    "pensionable pay.",
                    more=[
                        variance_fact,
                        (
                            "Tier taken",
                            f"{pounds_text(net)} is {tier.normalize():f}% of "
                            f"{pounds_text(expectation.pensionable_pence or 0)}",
                        ),
                    ],
                ),
            ]
    return [
        *found,
        problem(
            AnomalyKind.INCORRECT_AMOUNT,
            variance,
            f"{_what(expectation)}: {pounds_text(net)} against "
            f"{pounds_text(expectation.amount_pence)} expected ({pounds_text(variance)}).",
            more=[variance_fact],
        ),
    ]


def _verb(expectation: Expectation) -> str:
    return "deducted" if expectation.component.is_deduction else "paid"


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
        taken = percent_of(expectation.pensionable_pence, band.value)
        if abs(taken - abs(net)) <= TOLERANCE_PENCE:
            return band.value
    return None


def _leavers(
    ods_code: str, counted: Sequence[LineRow], memberships: Sequence[PerformerMembership]
) -> list[Detected]:
    found = []
    for line in counted:
        if (
            line.status is not ChainStatus.PAID
            or line.gmc_number is None
            or line.component not in SUPERANNUATION
        ):
            continue
        posts = [m for m in memberships if m.gmc_number == line.gmc_number]
        ended = [m.end_date for m in posts if m.end_date is not None]
        current = [
            m
            for m in posts
            if m.start_date <= line.covers_to
            and (m.end_date is None or m.end_date >= line.covers_from)
        ]
        if current or not ended or max(ended) >= line.covers_from:
            continue
        left = max(ended)
        found.append(
            Detected(
                kind=AnomalyKind.LEAVER_SUPERANNUATION,
                ods_code=ods_code,
                component=line.component,
                covers_from=line.covers_from,
                gmc_number=line.gmc_number,
                discriminator=f"line {line.id}",
                amount_at_stake_pence=abs(line.amount_pence),
                summary=f"{pounds_text(abs(line.amount_pence))} of "
                f"{label(line.component).lower()} was taken for performer "
                f"{line.gmc_number} for {line.covers_from:%B %Y}, after they left the "
                f"practice on {left}.",
                facts=(
                    _describe(line),
                    ("Left the practice", f"{left} (performers list)"),
                    ("Covers", f"{line.covers_from} to {month_end(line.covers_to)}"),
                ),
                line_ids=(line.id,),
            )
        )
    return found
