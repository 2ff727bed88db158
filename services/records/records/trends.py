"""An LMC's monthly trends by problem, England's median beside them, and the small-number
suppression that keeps a count from pointing at a patient.

Suppression follows NHS Digital's disclosure control for published health statistics below
national level (the README's rules table has the source): a count of 0 is shown; 1 to 7 is
suppressed; 8 or more is rounded to the nearest 5. A rate is worked out from the rounded count,
and is suppressed with it. England's medians are national figures, which the same practice
leaves unsuppressed; they are medians across LMCs, so they are not any one area's count.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

SUPPRESSED_UP_TO: Final = 7
"""Counts from 1 to this are not shown."""
ROUND_TO: Final = 5
"""Counts above it are rounded to the nearest multiple of this."""
PER: Final = 100
"""Rates are per this many practices, so areas of different sizes compare."""
MAX_MONTHS: Final = 24
MEDIANS_TTL_SECONDS: Final = 600.0
"""England's medians move slowly; worked out at most every ten minutes per process."""


def suppress(count: int) -> int | None:
    """A count as it may be shown: 0 as it is, 1-7 not at all (None), 8 or more to the nearest
    5 (halves round up: 12 is 10, 13 is 15)."""
    if count == 0:
        return 0
    if count <= SUPPRESSED_UP_TO:
        return None
    return ROUND_TO * ((count + ROUND_TO // 2) // ROUND_TO)


def rate(count: int | None, practices: int) -> float | None:
    """Per 100 practices, to one decimal place; None when the count is suppressed."""
    if count is None or practices == 0:
        return None
    return round(count * PER / practices, 1)


def months_ending(today: date, months: int) -> list[date]:
    """The first days of the ``months`` calendar months up to and including today's."""
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 1)]


def medians(
    counts: Mapping[tuple[str, date, str], int],
    practices: Mapping[str, int],
    months: Sequence[date],
    kinds: Sequence[str],
) -> dict[tuple[date, str], float]:
    """England's median across LMCs of each month's rate per 100 practices, by (month, kind).
    An LMC with no incident of a kind in a month counts, at 0."""
    areas = [code for code, size in practices.items() if size]
    found: dict[tuple[date, str], float] = {}
    for month in months:
        for kind in kinds:
            rates = [counts.get((code, month, kind), 0) * PER / practices[code] for code in areas]
            found[(month, kind)] = round(statistics.median(rates), 1) if rates else 0.0
    return found


@dataclass
class _Cached:
    expires: float
    value: dict[tuple[date, str], float]


_cache: dict[date, _Cached] = {}


async def england_medians(
    first_month: date, compute: Callable[[], Awaitable[dict[tuple[date, str], float]]]
) -> dict[tuple[date, str], float]:
    """The medians for the window starting ``first_month``, from this process's cache while
    fresh."""
    now = time.monotonic()
    cached = _cache.get(first_month)
    if cached is None or cached.expires < now:
        cached = _Cached(now + MEDIANS_TTL_SECONDS, await compute())
        _cache.clear()
        _cache[first_month] = cached
    return cached.value


def forget_medians() -> None:
    """Drop the cached medians: the next summary works them out again (tests, benchmarks)."""
    _cache.clear()
