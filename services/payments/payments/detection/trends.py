"""An LMC's payment problems month by month: anomalies raised and their amounts, and how long
resolving them took, by kind, component and paymaster, with England's median beside the area's.

Pure: the figures come from :func:`payments.detection.repository.trend_rows` (one statement for
every LMC and England at once) and :func:`~payments.detection.repository.lmc_sizes`. Counts and
sums only. Figures for the area follow :mod:`payments.disclosure` (1 to 7 practices: withheld;
a count from 8 or more rounded to the nearest 5); England's medians are national figures, across
every LMC, shown as they are, as the records service shows its own.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Final

from payments import disclosure
from payments.models import AnomalyKind, Component, Paymaster

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from payments.detection.repository import TrendRow

MAX_MONTHS: Final = 24
PER: Final = 100
"""Counts are compared per this many practices, so that areas of different sizes compare."""

Group = tuple[AnomalyKind, Component, Paymaster | None]


@dataclass(frozen=True)
class TrendMonth:
    month: date
    raised: int | None
    raised_pence: int | None
    raised_per_100_practices: float | None
    england_median_raised_per_100_practices: float
    pence_per_practice: int | None
    england_median_pence_per_practice: int
    resolved: int | None
    median_days_to_resolve: float | None
    england_median_days_to_resolve: float | None
    suppressed: bool


@dataclass(frozen=True)
class Trend:
    kind: AnomalyKind
    component: Component
    paymaster: Paymaster | None
    months: list[TrendMonth]


def months_ending(today: date, months: int) -> list[date]:
    """The first days of the ``months`` calendar months up to and including today's."""
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 1)]


def _group(row: TrendRow) -> Group:
    paymaster = None if row.paymaster is None else Paymaster(row.paymaster)
    return AnomalyKind(row.kind), Component(row.component), paymaster


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def build(
    rows: Sequence[TrendRow],
    *,
    lmc_code: str,
    sizes: Mapping[str, int],
    months: Sequence[date],
    exact: bool,
) -> list[Trend]:
    """The area's trends, one per kind, component and paymaster it has had a problem of in
    the window, every month of the window in each (zero where nothing happened)."""
    raised: dict[tuple[str, date, Group], TrendRow] = {}
    resolved: dict[tuple[str | None, date, Group], TrendRow] = {}
    for row in rows:
        key = (row.lmc_code, row.month, _group(row))
        if row.resolved:
            resolved[key] = row
        elif row.lmc_code is not None:
            raised[(row.lmc_code, row.month, _group(row))] = row
    groups = sorted(
        {group for (code, _, group) in raised if code == lmc_code}
        | {group for (code, _, group) in resolved if code == lmc_code},
        key=lambda g: (g[0].value, g[1].value, "" if g[2] is None else g[2].value),
    )
    areas = {code: size for code, size in sizes.items() if size}
    size = sizes.get(lmc_code, 0)
    trends = []
    for group in groups:
        points = []
        for month in months:
            up = raised.get((lmc_code, month, group))
            down = resolved.get((lmc_code, month, group))
            nation = resolved.get((None, month, group))
            rates, amounts = [], []
            for code, practices in areas.items():
                there = raised.get((code, month, group))
                rates.append((there.anomalies if there else 0) * PER / practices)
                amounts.append((there.pence if there else 0) / practices)
            count, pence, gone, days = _shown(up, down, exact=exact)
            points.append(
                TrendMonth(
                    month=month,
                    raised=count,
                    raised_pence=pence,
                    raised_per_100_practices=(
                        None if count is None or not size else round(count * PER / size, 1)
                    ),
                    england_median_raised_per_100_practices=round(_median(rates), 1),
                    pence_per_practice=None if pence is None or not size else round(pence / size),
                    england_median_pence_per_practice=round(_median(amounts)),
                    resolved=gone,
                    median_days_to_resolve=days,
                    england_median_days_to_resolve=_days(nation),
                    suppressed=None in (count, pence, gone),
                )
            )
        trends.append(Trend(kind=group[0], component=group[1], paymaster=group[2], months=points))
    return trends


def _days(row: TrendRow | None) -> float | None:
    return None if row is None or row.median_days is None else round(row.median_days, 1)


def _shown(
    up: TrendRow | None, down: TrendRow | None, *, exact: bool
) -> tuple[int | None, int | None, int | None, float | None]:
    """The area's month as it may be shown: anomalies raised and their pence, anomalies
    resolved and the median days they took; withheld where 1 to 7 practices make them up."""
    count, pence = (up.anomalies, up.pence) if up else (0, 0)
    gone = down.anomalies if down else 0
    days = _days(down)
    if exact:
        return count, pence, gone, days
    raised_at = up.practices if up else 0
    resolved_at = down.practices if down else 0
    return (
        disclosure.count_shown(count, practices=raised_at),
        disclosure.amount_shown(pence, practices=raised_at),
        disclosure.count_shown(gone, practices=resolved_at),
        None if disclosure.withheld(resolved_at) else days,
    )
