"""The performers list's rules: which status changes the regulations allow, who may work
without being included, and the targets a request is judged by.

Transitions follow the National Health Service (Performers Lists) (England) Regulations 2013
(SI 2013/335): an application is pending until NHS England includes (reg 7), defers (reg 8) or
refuses (reg 7) it; an included performer may have conditions imposed (reg 10), be suspended
(reg 12), contingently or finally removed (regs 14-15) or withdraw, but may not withdraw while
suspended (reg 20, as amended by SI 2015/362). A refused, removed or withdrawn performer comes
back only by applying again.

The sources and the dates each rule applies from are in the README's table of rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from performers.models import ChangeKind, ListStatus

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

# NHS England asks applicants for inclusion to allow 12 weeks; beyond 16 weeks, through no
# fault of the GP, NHS England may at its discretion pay goodwill compensation (NHSE FOI 2018,
# in DOMAIN.md section 5). Neither applies to any other kind of request.
INCLUSION_TARGET: Final = timedelta(weeks=12)
GOODWILL_THRESHOLD: Final = timedelta(weeks=16)


@dataclass(frozen=True)
class Target:
    """How long a kind of request should take, and where that figure comes from."""

    within: timedelta
    source: str


# Kinds other than inclusion have no published target. These are the service's own working
# targets, so that a request nobody decides still shows up; PCSE says a newly qualified GP may
# work while a CCT status change is processed, so lateness there costs no work.
TARGETS: Final[dict[ChangeKind, Target]] = {
    ChangeKind.INCLUSION: Target(INCLUSION_TARGET, "NHS England: allow 12 weeks"),
    ChangeKind.JOINING: Target(timedelta(weeks=4), "service target (none published)"),
    ChangeKind.LEAVING: Target(timedelta(weeks=4), "service target (none published)"),
    ChangeKind.STATUS_CHANGE: Target(timedelta(weeks=4), "service target (none published)"),
    ChangeKind.CCT: Target(timedelta(weeks=2), "service target (none published)"),
    ChangeKind.GP_REGISTER: Target(timedelta(weeks=2), "service target (none published)"),
    ChangeKind.RETIREMENT: Target(timedelta(weeks=4), "service target (none published)"),
}

# A GP registrar may work for the first three months of the GP training programme before
# being included (DOMAIN.md section 5, REG13).
REGISTRAR_WINDOW_MONTHS: Final = 3
# SI 2024/575 in force: doctors employed by or connected to a designated body may deliver
# primary medical services without being on the list.
DESIGNATED_BODY_EXEMPTION_FROM: Final = date(2024, 5, 27)
# The GMC's GP Register opened on 31 March 2006; from 1 April 2006 every doctor working in
# general practice other than one in training must be on it.
GP_REGISTER_REQUIRED_FROM: Final = date(2006, 4, 1)


def allowed(current: ListStatus | None, target: ListStatus) -> bool:
    return target in ALLOWED[current]


def target_of(kind: ChangeKind) -> Target:
    return TARGETS[kind]


def decision_due_by(kind: ChangeKind, complete_on: date) -> date:
    return complete_on + TARGETS[kind].within


def goodwill_from(kind: ChangeKind, complete_on: date) -> date | None:
    """The day after which an application may be eligible for goodwill compensation; None for
    every kind the guidance does not cover."""
    return complete_on + GOODWILL_THRESHOLD if kind is ChangeKind.INCLUSION else None


def weeks_beyond_goodwill(kind: ChangeKind, complete_on: date, until: date) -> int:
    """Whole weeks past the 16-week mark by ``until`` (0 when not past, or not covered)."""
    start = goodwill_from(kind, complete_on)
    if start is None or until <= start:
        return 0
    return (until - start).days // 7


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def registrar_window_ends(training_start: date) -> date:
    """The first day a registrar who is not yet included may no longer work."""
    return add_months(training_start, REGISTRAR_WINDOW_MONTHS)


def in_registrar_window(*, registrar: bool, training_start: date | None, on: date) -> bool:
    return (
        registrar
        and training_start is not None
        and training_start <= on < registrar_window_ends(training_start)
    )


def exempt_by_designated_body(designated_body: str | None, on: date) -> bool:
    return designated_body is not None and on >= DESIGNATED_BODY_EXEMPTION_FROM
