"""Problems on the performers list made visible, each with its evidence.

Computed from the list as it is, not stored: a finding disappears as soon as its cause is put
right, and nothing has to remember to clear it. Each test is the regulations' own (the README's
table of rules gives the source of each).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.orm import aliased

from performers import rules
from performers.models import (
    ChangeKind,
    ChangeOutcome,
    ChangeRequest,
    ListStatus,
    Membership,
    Performer,
    PerformerIdentity,
    Role,
)

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager
    from datetime import date

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import InstrumentedAttribute

    from performers.repository import Practices


class FindingKind(enum.StrEnum):
    DUPLICATE_PERFORMER = "duplicate_performer"
    GMC_NUMBER_LISTED_TWICE = "gmc_number_listed_twice"
    NOT_ON_GP_REGISTER = "not_on_gp_register"
    WORKING_NOT_INCLUDED = "working_not_included"
    SUSPENDED_WORKING = "suspended_working"
    ENTITLED_NOT_VISIBLE = "entitled_not_visible"
    CHANGE_REQUEST_OVERDUE = "change_request_overdue"
    GOODWILL_COMPENSATION_MAY_APPLY = "goodwill_compensation_may_apply"


class Severity(enum.StrEnum):
    WARNING = "warning"
    HIGH = "high"


SEVERITY = {
    FindingKind.DUPLICATE_PERFORMER: Severity.WARNING,
    FindingKind.GMC_NUMBER_LISTED_TWICE: Severity.WARNING,
    FindingKind.NOT_ON_GP_REGISTER: Severity.HIGH,
    FindingKind.WORKING_NOT_INCLUDED: Severity.HIGH,
    FindingKind.SUSPENDED_WORKING: Severity.HIGH,
    FindingKind.ENTITLED_NOT_VISIBLE: Severity.HIGH,
    FindingKind.CHANGE_REQUEST_OVERDUE: Severity.WARNING,
    FindingKind.GOODWILL_COMPENSATION_MAY_APPLY: Severity.HIGH,
}


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    gmc_number: str
    ods_code: str | None
    since: date | None
    """When the problem began, where the data says (the day a request became overdue)."""
    evidence: dict[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.kind.value, self.gmc_number, self.ods_code or "", self.evidence.get("ref", ""))


def _current(on: date) -> ColumnElement[bool]:
    return and_(
        Membership.start_date <= on,
        or_(Membership.end_date.is_(None), Membership.end_date >= on),
    )


def _in_scope(
    column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None], codes: Practices | None
) -> ColumnElement[bool]:
    """``column`` in ``codes``; always true when there is no scope (the whole list)."""
    return true() if codes is None else column.in_(codes)


def _working_at(codes: Practices | None, on: date) -> ColumnElement[bool]:
    """Performers with a current membership at one of ``codes`` (any practice when None)."""
    subquery = select(Membership.gmc_number).where(
        _current(on), _in_scope(Membership.ods_code, codes)
    )
    return Performer.gmc_number.in_(subquery)


def _joining_at(codes: Practices | None) -> ColumnElement[bool]:
    """Performers a practice of ``codes`` has asked to take on (open or approved)."""
    subquery = select(ChangeRequest.gmc_number).where(
        ChangeRequest.kind == ChangeKind.JOINING,
        or_(ChangeRequest.outcome.is_(None), ChangeRequest.outcome == ChangeOutcome.APPROVED),
        _in_scope(ChangeRequest.ods_code, codes),
    )
    return Performer.gmc_number.in_(subquery)


def _registrar(performer_supervised: bool, role: Role) -> bool:
    return performer_supervised or role is Role.REGISTRAR


async def _duplicates(session: AsyncSession, codes: Practices | None, on: date) -> list[Finding]:
    found: list[Finding] = []
    other = aliased(Performer)
    # The identities two or more performers share, kept by the database as the list changes
    # (a hundred or so of 40,000), then their performers: the area's, and their twins.
    identity = PerformerIdentity

    def holds(performer: type[Performer]) -> ColumnElement[bool]:
        return and_(
            func.lower(performer.family_name) == identity.family_key,
            func.lower(performer.given_name) == identity.given_key,
            performer.date_of_birth == identity.date_of_birth,
        )

    duplicates = await session.execute(
        select(Performer.gmc_number, other.gmc_number)
        .select_from(identity)
        .join(Performer, holds(Performer))
        .join(other, and_(holds(other), other.gmc_number != Performer.gmc_number))
        .where(identity.performers > 1, _working_at(codes, on))
        .order_by(Performer.gmc_number, other.gmc_number)
    )
    found.extend(
        Finding(
            FindingKind.DUPLICATE_PERFORMER,
            gmc,
            None,
            None,
            {"same name and date of birth as": twin},
        )
        for gmc, twin in duplicates
    )
    return found


async def _off_register(session: AsyncSession, codes: Practices | None, on: date) -> list[Finding]:
    found: list[Finding] = []
    # Reg 26(2)(b): a GP who is not a registrar must be on the GMC's GP Register; a CCT is
    # not the test (GPs who qualified before 2005 or through CEGPR have none).
    off_register = await session.execute(
        select(Performer.gmc_number, Performer.status, Performer.cct_date).where(
            Performer.status.in_(rules.ON_LIST),
            Performer.gp_register_on.is_(None),
            # NOT, not IS FALSE (the column is never null): the partial index's own predicate.
            ~Performer.under_training_supervision,
            _working_at(codes, on),
        )
    )
    found.extend(
        Finding(
            FindingKind.NOT_ON_GP_REGISTER,
            gmc,
            None,
            None,
            {
                "status": str(status),
                "GP Register": "no entry recorded",
                "training supervision": "not shown",
                "cct": "none recorded" if cct is None else cct.isoformat(),
            },
        )
        for gmc, status, cct in off_register
    )
    return found


async def _working_not_included(
    session: AsyncSession, codes: Practices | None, on: date
) -> list[Finding]:
    found: list[Finding] = []
    working = await session.execute(
        select(
            Membership.gmc_number,
            Membership.ods_code,
            Membership.start_date,
            Membership.role,
            Performer.status,
            Performer.under_training_supervision,
            Performer.training_programme_start,
            Performer.designated_body,
        )
        .join(Performer, Performer.gmc_number == Membership.gmc_number)
        .where(
            _current(on),
            _in_scope(Membership.ods_code, codes),
            Performer.status.not_in(rules.ON_LIST),
        )
        .order_by(Membership.gmc_number, Membership.ods_code)
    )
    for gmc, ods, start, role, status, supervised, training, body in working:
        evidence = {"status": str(status), "working there since": start.isoformat()}
        if status is ListStatus.SUSPENDED:
            found.append(Finding(FindingKind.SUSPENDED_WORKING, gmc, ods, start, evidence))
            continue
        registrar = _registrar(supervised, role)
        if rules.in_registrar_window(registrar=registrar, training_start=training, on=on):
            continue
        if rules.exempt_by_designated_body(body, on):
            continue
        since = start
        if registrar and training is not None:
            ended = rules.registrar_window_ends(training)
            evidence["registrar's three months ended"] = ended.isoformat()
            since = max(start, ended)
        elif registrar:
            evidence["training programme start"] = "not recorded"
        found.append(Finding(FindingKind.WORKING_NOT_INCLUDED, gmc, ods, since, evidence))
    return found


async def _not_visible_or_listed_twice(
    session: AsyncSession, codes: Practices | None, on: date
) -> list[Finding]:
    found: list[Finding] = []
    listed = await session.execute(
        select(
            Performer.gmc_number,
            Performer.public_list_visible,
            Performer.public_list_entries,
            Performer.public_list_checked_on,
        ).where(
            or_(
                and_(
                    Performer.status.in_(rules.ON_LIST),
                    Performer.public_list_visible.is_(False),
                ),
                Performer.public_list_entries > 1,
            ),
            or_(_working_at(codes, on), _joining_at(codes)),
        )
    )
    for gmc, visible, entries, checked in listed:
        checked_on = "never" if checked is None else checked.isoformat()
        if visible is False:
            found.append(
                Finding(
                    FindingKind.ENTITLED_NOT_VISIBLE,
                    gmc,
                    None,
                    checked,
                    {"included": "yes", "public list checked": checked_on, "shown": "no"},
                )
            )
        if entries is not None and entries > 1:
            found.append(
                Finding(
                    FindingKind.GMC_NUMBER_LISTED_TWICE,
                    gmc,
                    None,
                    checked,
                    {"entries on the public list": str(entries), "checked": checked_on},
                )
            )
    return found


class OpenRequest(NamedTuple):
    """What an open change request's place against its target needs."""

    reference: str
    kind: ChangeKind
    gmc_number: str
    ods_code: str | None
    submitted_on: date
    complete_on: date


async def open_requests(
    session: AsyncSession, codes: Practices | None, on: date
) -> list[OpenRequest]:
    """Open requests about the practices ``codes`` (all when None) or a performer working at
    one of them on ``on``, by reference: plain rows, as an area's few hundred are only read.
    The late ones are findings; an LMC's summary also counts them all by age, from the same
    rows."""
    in_scope = or_(
        _in_scope(ChangeRequest.ods_code, codes),
        ChangeRequest.gmc_number.in_(
            select(Membership.gmc_number).where(_current(on), _in_scope(Membership.ods_code, codes))
        ),
    )
    rows = await session.execute(
        select(
            ChangeRequest.reference,
            ChangeRequest.kind,
            ChangeRequest.gmc_number,
            ChangeRequest.ods_code,
            ChangeRequest.submitted_on,
            ChangeRequest.complete_on,
        )
        .where(ChangeRequest.outcome.is_(None), in_scope)
        .order_by(ChangeRequest.reference)
    )
    return [OpenRequest(*row) for row in rows]


def late_findings(requests: list[OpenRequest], *, on: date) -> list[Finding]:
    """The findings of the requests past their target, in the order given."""
    found: list[Finding] = []
    for request in requests:
        found.extend(request_findings(request, on=on))
    return found


async def _late_requests(session: AsyncSession, codes: Practices | None, on: date) -> list[Finding]:
    return late_findings(await open_requests(session, codes, on), on=on)


_Part = Callable[["AsyncSession", "Practices | None", "date"], Awaitable[list[Finding]]]
_LIST_PARTS: tuple[_Part, ...] = (
    _duplicates,
    _off_register,
    _working_not_included,
    _not_visible_or_listed_twice,
)
_PARTS: tuple[_Part, ...] = (*_LIST_PARTS, _late_requests)
"""Each test, one statement; their findings together in this order, then sorted."""


async def find(session: AsyncSession, *, codes: Practices | None, on: date) -> list[Finding]:
    """Every finding about the practices ``codes`` (the whole list when None), as of ``on``;
    ``codes`` may be a subquery of them (an LMC's area: ``repository.practices_of_area``).

    A fixed number of statements whatever the number of practices: an LMC's summary costs the
    same for one practice or five hundred.
    """
    found: list[Finding] = []
    for part in _PARTS:
        found.extend(await part(session, codes, on))
    return sorted(found, key=lambda finding: finding.sort_key)


async def find_side_by_side(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    *,
    codes: Practices | None,
    on: date,
    requests: Awaitable[list[OpenRequest]] | None = None,
) -> list[Finding]:
    """``find``, each of its statements on a connection of its own at the same time: over an
    LMC's area (the largest has 1,100 practices, 8,000 performers) each takes tens of
    milliseconds, and the server runs them on as many cores as it has. ``requests``, when
    given, are the open requests of the same ``codes`` on ``on`` (``open_requests``), read
    once for another figure too."""

    async def run(part: _Part) -> list[Finding]:
        async with sessions() as session:
            return await part(session, codes, on)

    async def late() -> list[Finding]:
        if requests is None:
            return await run(_late_requests)
        return late_findings(await requests, on=on)

    found = await asyncio.gather(*(run(part) for part in _LIST_PARTS), late())
    return sorted(chain.from_iterable(found), key=lambda finding: finding.sort_key)


def request_findings(request: OpenRequest, *, on: date) -> list[Finding]:
    """An open request past its target is overdue; an application for inclusion past 16
    weeks is instead "may be eligible for goodwill compensation" (one finding per request,
    so that the counts partition the open requests)."""
    due = rules.decision_due_by(request.kind, request.complete_on)
    if on <= due:
        return []
    evidence = {
        "ref": request.reference,
        "kind": str(request.kind),
        "received": request.submitted_on.isoformat(),
        "complete": request.complete_on.isoformat(),
        "decision due by": due.isoformat(),
        "target": rules.target_of(request.kind).source,
        "age in days": str((on - request.complete_on).days),
    }
    goodwill = rules.goodwill_from(request.kind, request.complete_on)
    if goodwill is None or on <= goodwill:
        return [
            Finding(
                FindingKind.CHANGE_REQUEST_OVERDUE,
                request.gmc_number,
                request.ods_code,
                due,
                evidence,
            )
        ]
    weeks = rules.weeks_beyond_goodwill(request.kind, request.complete_on, on)
    evidence |= {
        "16 weeks passed on": goodwill.isoformat(),
        "whole weeks beyond 16": str(weeks),
        "note": "NHS England may pay at its discretion where the delay is no fault of the GP",
    }
    return [
        Finding(
            FindingKind.GOODWILL_COMPENSATION_MAY_APPLY,
            request.gmc_number,
            request.ods_code,
            goodwill,
            evidence,
        )
    ]
