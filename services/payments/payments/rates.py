"""Rates and deadlines in force on a date, the payment calendar, and exact money arithmetic.

Every figure that changes by year (contribution tiers, the employer rate, the admin levy, LMC
levies, the global sum per weighted patient, the out-of-hours deduction, QOF values, the
trainer's grant, the estimate deadline) is a row with an effective date in the ``rate``,
``deadline_rule`` and ``timing_rule`` tables; this module only looks them up. A rate decided
after the months it applies to (a pay-review uplift) has the date it was decided too, so the
rate "as known on" a day can be asked for. Money is integer pence throughout; a figure is
worked out exactly with Decimal and rounded half up to the penny once, at the end.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import TYPE_CHECKING, Final

import holidays

from payments.models import DeadlineKind, RateKind

if TYPE_CHECKING:
    from collections.abc import Iterable

    from payments.models import (
        CommissionerRule,
        Component,
        DeadlineRule,
        Rate,
        TimingKind,
        TimingRule,
    )

MONTHS_A_YEAR = 12


def financial_year(on: date) -> int:
    """The financial year ``on`` falls in, by the year it starts (2025 is 2025/26)."""
    return on.year if on.month >= 4 else on.year - 1  # noqa: PLR2004 - April starts it


def year_label(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"


def month_start(on: date) -> date:
    return on.replace(day=1)


def month_end(on: date) -> date:
    return on.replace(day=_days_in_month(on.year, on.month))


@cache
def _days_in_month(year: int, month: int) -> int:
    """Remembered: detection asks it for every line and expectation of every practice."""
    return calendar.monthrange(year, month)[1]


def add_months(on: date, months: int) -> date:
    """The first day of the month ``months`` after ``on``'s month."""
    index = on.year * 12 + on.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """First days of every month from ``first``'s to ``last``'s, both included."""
    months: list[date] = []
    current = month_start(first)
    while current <= last:
        months.append(current)
        current = add_months(current, 1)
    return months


WORKING_WEEK: Final = 5


@cache
def bank_holidays(year: int) -> frozenset[date]:
    """England and Wales bank holidays in ``year``, substitute days included."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < WORKING_WEEK and day not in bank_holidays(day.year)


def next_working_day(day: date) -> date:
    """``day`` itself if it is a working day, else the first working day after it: a bank
    credit due on a Sunday that lands on Monday is not late."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def round_pence(value: Decimal) -> int:
    """Half up to the penny, as payroll rounds: once, on a line's final figure."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_of(pence: int, percent: Decimal) -> int:
    """``percent`` % of ``pence``, to the nearest penny (half up, as payroll rounds)."""
    return int((Decimal(pence) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def per_patient(rate: Decimal, patients: int) -> int:
    """``patients`` x a rate in pence per patient, to the nearest penny."""
    return int((rate * patients).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def divide(pence: int, parts: int) -> int:
    """One of ``parts`` equal shares of ``pence``, to the nearest penny."""
    return int((Decimal(pence) / parts).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def pounds_text(pence: int) -> str:
    """``£1,234.56`` (``-£12.34``): for evidence and notices a person reads."""
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}£{whole:,}.{part:02d}"


@dataclass(frozen=True)
class RateValue:
    kind: RateKind
    scope: str
    effective_from: date
    band_from_pence: int
    band_to_pence: int | None
    value: Decimal
    source: str
    decided_on: date | None = None
    settle_by: date | None = None

    def describe(self) -> str:
        if self.kind in PER_PATIENT:
            figure = f"{self.value.normalize():f}p per patient a year"
        elif self.kind in PENCE_A_YEAR:
            figure = f"{pounds_text(int(self.value))} a year"
        elif self.kind is RateKind.QOF_POINT_VALUE:
            figure = f"{pounds_text(int(self.value))} a point"
        else:
            figure = f"{self.value.normalize():f}%"
        decided = (
            f", decided {self.decided_on.isoformat()}"
            if self.decided_on is not None and self.decided_on > self.effective_from
            else ""
        )
        return f"{figure} from {self.effective_from.isoformat()}{decided} ({self.source})"

    @property
    def arrears_due(self) -> date | None:
        """For a rate decided after it took effect: by when its arrears are due (the end of
        the month after the decision, unless the row says)."""
        if self.decided_on is None or self.decided_on <= self.effective_from:
            return None
        return self.settle_by or month_end(add_months(self.decided_on, 1))


COMMISSIONER_NAMES: Final = {
    "nhs_england": "NHS England",
    "icb": "the practice's ICB",
    "local_authority": "the local authority",
}
PER_PATIENT = frozenset({RateKind.GLOBAL_SUM, RateKind.LMC_STATUTORY, RateKind.LMC_VOLUNTARY})
PENCE_A_YEAR = frozenset({RateKind.TRAINING_GRANT})


class RateBook:
    """All rates and deadline rules, loaded once per computation (they are a few dozen rows)."""

    def __init__(
        self,
        rates: Iterable[Rate],
        deadlines: Iterable[DeadlineRule],
        timings: Iterable[TimingRule] = (),
        commissioners: Iterable[CommissionerRule] = (),
    ) -> None:
        self._rates: dict[tuple[RateKind, str], list[RateValue]] = {}
        for row in rates:
            value = RateValue(
                kind=row.kind,
                scope=row.scope,
                effective_from=row.effective_from,
                band_from_pence=row.band_from_pence,
                band_to_pence=row.band_to_pence,
                value=Decimal(row.value),
                source=row.source,
                decided_on=row.decided_on,
                settle_by=row.settle_by,
            )
            self._rates.setdefault((row.kind, row.scope), []).append(value)
        for values in self._rates.values():
            values.sort(key=lambda v: (v.effective_from, v.decided_on or v.effective_from))
        self._timings: dict[TimingKind, list[TimingRule]] = {}
        for timing in timings:
            self._timings.setdefault(timing.kind, []).append(timing)
        for found in self._timings.values():
            found.sort(key=lambda r: r.effective_from)
        self._commissioners: dict[Component, list[CommissionerRule]] = {}
        for commissioner in commissioners:
            self._commissioners.setdefault(commissioner.component, []).append(commissioner)
        for found_rules in self._commissioners.values():
            found_rules.sort(key=lambda r: r.effective_from)
        self._deadlines: dict[DeadlineKind, list[DeadlineRule]] = {}
        for rule in deadlines:
            self._deadlines.setdefault(rule.kind, []).append(rule)
        for rules in self._deadlines.values():
            rules.sort(key=lambda r: r.from_year)

    def in_force(
        self, kind: RateKind, scope: str, on: date, known_on: date | None = None
    ) -> list[RateValue]:
        """Every row of ``kind`` in force on ``on`` (the bands of a tier), as decided by
        ``known_on``."""
        return self._in_force(kind, scope, on, known_on)

    def scopes(self) -> list[tuple[RateKind, str]]:
        return sorted(self._rates)

    def _in_force(
        self, kind: RateKind, scope: str, on: date, known_on: date | None = None
    ) -> list[RateValue]:
        values = [
            v
            for v in self._rates.get((kind, scope), [])
            if v.effective_from <= on
            and (known_on is None or v.decided_on is None or v.decided_on <= known_on)
        ]
        if not values:
            return []
        latest = values[-1].effective_from
        same_day = [v for v in values if v.effective_from == latest]
        # A later decision about the same day replaces the earlier one.
        decided = max(v.decided_on or v.effective_from for v in same_day)
        return sorted(
            (v for v in same_day if (v.decided_on or v.effective_from) == decided),
            key=lambda v: v.band_from_pence,
        )

    def rate(
        self, kind: RateKind, on: date, scope: str = "", *, known_on: date | None = None
    ) -> RateValue | None:
        """The rate of ``kind`` in force on ``on`` (for an LMC levy, ``scope`` is the LMC), as
        decided by ``known_on`` when given (before a backdated uplift was decided, the old rate
        was the right expectation)."""
        values = self._in_force(kind, scope, on, known_on)
        return values[0] if values else None

    def days(self, kind: TimingKind, on: date) -> int | None:
        """The number of days the timing rule in force on ``on`` allows."""
        rules = [r for r in self._timings.get(kind, []) if r.effective_from <= on]
        return rules[-1].days if rules else None

    def commissioner(
        self, component: Component, on: date, paycode: str = ""
    ) -> CommissionerRule | None:
        """Whose money ``component`` (or one paycode of it) is on ``on``."""
        rules = [
            r
            for r in self._commissioners.get(component, [])
            if r.effective_from <= on and r.paycode in {"", paycode}
        ]
        exact = [r for r in rules if r.paycode == paycode]
        found = exact or rules
        return found[-1] if found else None

    def describe_commissioner(self, component: Component, on: date, paycode: str = "") -> str:
        rule = self.commissioner(component, on, paycode)
        if rule is None:
            return "not recorded"
        who = COMMISSIONER_NAMES.get(rule.commissioner.value, rule.commissioner.value)
        return f"{who}; paid through {rule.route} ({rule.source})"

    def tiers(self, on: date) -> list[RateValue]:
        """The employee contribution bands in force on ``on``, lowest first."""
        return self._in_force(RateKind.EMPLOYEE_TIER, "", on)

    def tier(self, pensionable_pay_pence: int, on: date) -> RateValue | None:
        """The band for a year's pensionable pay (actual pay across all posts, not WTE)."""
        bands = [b for b in self.tiers(on) if b.band_from_pence <= pensionable_pay_pence]
        return bands[-1] if bands else None

    def deadline_source(self, kind: DeadlineKind, year: int) -> str:
        """The source of the rule that sets ``kind``'s deadline for ``year``."""
        rules = [r for r in self._deadlines.get(kind, []) if r.from_year <= year]
        return rules[-1].source if rules else ""

    def deadline(self, kind: DeadlineKind, year: int) -> date | None:
        """When ``kind`` is due for financial year ``year``, by the rule in force for it."""
        rules = [r for r in self._deadlines.get(kind, []) if r.from_year <= year]
        if not rules:
            return None
        rule = rules[-1]
        due_year = year + rule.year_offset
        day = min(rule.day, calendar.monthrange(due_year, rule.month)[1])
        return date(due_year, rule.month, day)
