"""Rates and deadlines in force on a date, and exact money arithmetic.

Every figure that changes by year (contribution tiers, the employer rate, the admin levy, LMC
levies, the global sum per patient, the estimate deadline) is a row with an effective date in
the ``rate`` and ``deadline_rule`` tables; this module only looks them up. Money is integer
pence throughout; a percentage is applied with Decimal and rounded half up to the penny.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from payments.models import DeadlineKind, RateKind

if TYPE_CHECKING:
    from collections.abc import Iterable

    from payments.models import DeadlineRule, Rate

MONTHS_A_YEAR = 12


def financial_year(on: date) -> int:
    """The financial year ``on`` falls in, by the year it starts (2025 is 2025/26)."""
    return on.year if on.month >= 4 else on.year - 1  # noqa: PLR2004 - April starts it


def year_label(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"


def month_start(on: date) -> date:
    return on.replace(day=1)


def month_end(on: date) -> date:
    return on.replace(day=calendar.monthrange(on.year, on.month)[1])


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

    def describe(self) -> str:
        unit = "p per patient a year" if self.kind in PER_PATIENT else "%"
        return f"{self.value.normalize():f}{unit} from {self.effective_from.isoformat()}"


PER_PATIENT = frozenset({RateKind.GLOBAL_SUM, RateKind.LMC_STATUTORY, RateKind.LMC_VOLUNTARY})


class RateBook:
    """All rates and deadline rules, loaded once per computation (they are a few dozen rows)."""

    def __init__(self, rates: Iterable[Rate], deadlines: Iterable[DeadlineRule]) -> None:
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
            )
            self._rates.setdefault((row.kind, row.scope), []).append(value)
        for values in self._rates.values():
            values.sort(key=lambda v: (v.effective_from, v.band_from_pence))
        self._deadlines: dict[DeadlineKind, list[DeadlineRule]] = {}
        for rule in deadlines:
            self._deadlines.setdefault(rule.kind, []).append(rule)
        for rules in self._deadlines.values():
            rules.sort(key=lambda r: r.from_year)

    def _in_force(self, kind: RateKind, scope: str, on: date) -> list[RateValue]:
        values = [v for v in self._rates.get((kind, scope), []) if v.effective_from <= on]
        if not values:
            return []
        latest = values[-1].effective_from
        return [v for v in values if v.effective_from == latest]

    def rate(self, kind: RateKind, on: date, scope: str = "") -> RateValue | None:
        """The rate of ``kind`` in force on ``on`` (for an LMC levy, ``scope`` is the LMC)."""
        values = self._in_force(kind, scope, on)
        return values[0] if values else None

    def tiers(self, on: date) -> list[RateValue]:
        """The employee contribution bands in force on ``on``, lowest first."""
        return self._in_force(RateKind.EMPLOYEE_TIER, "", on)

    def tier(self, pensionable_pay_pence: int, on: date) -> RateValue | None:
        """The band for a year's pensionable pay (actual pay across all posts, not WTE)."""
        bands = [b for b in self.tiers(on) if b.band_from_pence <= pensionable_pay_pence]
        return bands[-1] if bands else None

    def deadline(self, kind: DeadlineKind, year: int) -> date | None:
        """When ``kind`` is due for financial year ``year``, by the rule in force for it."""
        rules = [r for r in self._deadlines.get(kind, []) if r.from_year <= year]
        if not rules:
            return None
        rule = rules[-1]
        due_year = year + rule.year_offset
        day = min(rule.day, calendar.monthrange(due_year, rule.month)[1])
        return date(due_year, rule.month, day)
