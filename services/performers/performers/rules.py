"""The performers list's rules: which status changes the regulations allow, and the timers.

Transitions follow the National Health Service (Performers Lists) (England) Regulations 2013
(SI 2013/335): an application is pending until NHS England includes (reg 4), defers (reg 8) or
refuses (reg 7) it; an included performer may have conditions imposed (reg 10), be suspended
(reg 12), contingently or finally removed (regs 14-15) or withdraw, but may not withdraw while
suspended. A refused, removed or withdrawn performer comes back only by applying again.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

from performers.models import ListStatus

S = ListStatus
ON_LIST: Final = frozenset({S.INCLUDED, S.INCLUDED_WITH_CONDITIONS})
ALLOWED: Final[dict[ListStatus | None, frozenset[ListStatus]]] = {
    None: frozenset({S.PENDING}),
    S.PENDING: frozenset(
        {S.INCLUDED, S.INCLUDED_WITH_CONDITIONS, S.DEFERRED, S.REFUSED, S.WITHDRAWN}
    ),
    S.DEFERRED: frozenset(
        {S.PENDING, S.INCLUDED, S.INCLUDED_WITH_CONDITIONS, S.REFUSED, S.WITHDRAWN}
    ),
    S.REFUSED: frozenset({S.PENDING}),
    S.INCLUDED: frozenset(
        {S.INCLUDED_WITH_CONDITIONS, S.CONTINGENT_REMOVAL, S.SUSPENDED, S.REMOVED, S.WITHDRAWN}
    ),
    S.INCLUDED_WITH_CONDITIONS: frozenset(
        {S.INCLUDED, S.CONTINGENT_REMOVAL, S.SUSPENDED, S.REMOVED, S.WITHDRAWN}
    ),
    S.CONTINGENT_REMOVAL: frozenset(
        {S.INCLUDED, S.INCLUDED_WITH_CONDITIONS, S.SUSPENDED, S.REMOVED, S.WITHDRAWN}
    ),
    # Suspended (reg 12): withdrawal is not allowed while suspended.
    S.SUSPENDED: frozenset(
        {S.INCLUDED, S.INCLUDED_WITH_CONDITIONS, S.CONTINGENT_REMOVAL, S.REMOVED}
    ),
    S.REMOVED: frozenset({S.PENDING}),
    S.WITHDRAWN: frozenset({S.PENDING}),
}

# NHS England asks applicants to allow 12 weeks; goodwill compensation starts beyond 16.
EXPECTED_DECISION: Final = timedelta(weeks=12)
COMPENSATION_THRESHOLD: Final = timedelta(weeks=16)


def allowed(current: ListStatus | None, target: ListStatus) -> bool:
    return target in ALLOWED[current]


def expected_decision_by(submitted_on: date) -> date:
    return submitted_on + EXPECTED_DECISION


def compensable_from(submitted_on: date) -> date:
    return submitted_on + COMPENSATION_THRESHOLD
