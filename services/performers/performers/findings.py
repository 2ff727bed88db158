"""Problems on the performers list made visible, each with its evidence.

Computed from the list as it is, not stored: a finding disappears as soon as its cause is put
right, and nothing has to remember to clear it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.orm import aliased

from performers import rules
from performers.models import ChangeRequest, ListStatus, Membership, Performer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import InstrumentedAttribute


class FindingKind(enum.StrEnum):
    DUPLICATE_PERFORMER = "duplicate_performer"
    REGISTRAR_WITHOUT_CCT = "registrar_without_cct"
    WORKING_NOT_INCLUDED = "working_not_included"
    SUSPENDED_WORKING = "suspended_working"
    CHANGE_REQUEST_OVERDUE = "change_request_overdue"
    CHANGE_REQUEST_COMPENSABLE = "change_request_compensable"


class Severity(enum.StrEnum):
    WARNING = "warning"
    HIGH = "high"


SEVERITY = {
    FindingKind.DUPLICATE_PERFORMER: Severity.WARNING,
    FindingKind.REGISTRAR_WITHOUT_CCT: Severity.HIGH,
    FindingKind.WORKING_NOT_INCLUDED: Severity.HIGH,
    FindingKind.SUSPENDED_WORKING: Severity.HIGH,
    FindingKind.CHANGE_REQUEST_OVERDUE: Severity.WARNING,
    FindingKind.CHANGE_REQUEST_COMPENSABLE: Severity.HIGH,
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
    column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None],
    codes: Sequence[str] | None,
) -> ColumnElement[bool]:
    """``column`` in ``codes``; always true when there is no scope (the whole list)."""
    return true() if codes is None else column.in_(codes)


def _working_at(codes: Sequence[str] | None, on: date) -> ColumnElement[bool]:
    """Performers with a current membership at one of ``codes`` (any practice when None)."""
    subquery = select(Membership.gmc_number).where(
        _current(on), _in_scope(Membership.ods_code, codes)
    )
    return Performer.gmc_number.in_(subquery)


async def find(session: AsyncSession, *, codes: Sequence[str] | None, on: date) -> list[Finding]:
    """Every finding about the practices ``codes`` (the whole list when None), as of ``on``."""
    found: list[Finding] = []

    other = aliased(Performer)
    duplicates = await session.execute(
        select(Performer.gmc_number, other.gmc_number)
        .join(
            other,
            and_(
                func.lower(other.family_name) == func.lower(Performer.family_name),
                func.lower(other.given_name) == func.lower(Performer.given_name),
                other.date_of_birth == Performer.date_of_birth,
                other.gmc_number != Performer.gmc_number,
            ),
        )
        .where(_working_at(codes, on))
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

    registrars = await session.execute(
        select(Performer.gmc_number, Performer.status).where(
            Performer.status.in_(rules.ON_LIST),
            Performer.cct_date.is_(None),
            Performer.under_training_supervision.is_(False),
            _working_at(codes, on),
        )
    )
    found.extend(
        Finding(
            FindingKind.REGISTRAR_WITHOUT_CCT,
            gmc,
            None,
            None,
            {"status": str(status), "cct": "none recorded", "training supervision": "not shown"},
        )
        for gmc, status in registrars
    )

    working = await session.execute(
        select(Membership.gmc_number, Membership.ods_code, Membership.start_date, Performer.status)
        .join(Performer, Performer.gmc_number == Membership.gmc_number)
        .where(
            _current(on),
            _in_scope(Membership.ods_code, codes),
            Performer.status.not_in(rules.ON_LIST),
        )
        .order_by(Membership.gmc_number, Membership.ods_code)
    )
    for gmc, ods, start, status in working:
        kind = (
            FindingKind.SUSPENDED_WORKING
            if status is ListStatus.SUSPENDED
            else FindingKind.WORKING_NOT_INCLUDED
        )
        evidence = {"status": str(status), "working there since": start.isoformat()}
        found.append(Finding(kind, gmc, ods, start, evidence))

    in_scope = or_(
        _in_scope(ChangeRequest.ods_code, codes),
        ChangeRequest.gmc_number.in_(
            select(Membership.gmc_number).where(_current(on), _in_scope(Membership.ods_code, codes))
        ),
    )
    overdue = await session.scalars(
        select(ChangeRequest)
        .where(
            ChangeRequest.outcome.is_(None),
            ChangeRequest.submitted_on < on - rules.EXPECTED_DECISION,
            in_scope,
        )
        .order_by(ChangeRequest.reference)
    )
    for request in overdue:
        compensable = on > rules.compensable_from(request.submitted_on)
        kind = (
            FindingKind.CHANGE_REQUEST_COMPENSABLE
            if compensable
            else FindingKind.CHANGE_REQUEST_OVERDUE
        )
        since = (
            rules.compensable_from(request.submitted_on)
            if compensable
            else rules.expected_decision_by(request.submitted_on)
        )
        evidence = {
            "ref": request.reference,
            "kind": str(request.kind),
            "submitted": request.submitted_on.isoformat(),
            "expected by": rules.expected_decision_by(request.submitted_on).isoformat(),
            "age in days": str((on - request.submitted_on).days),
        }
        found.append(Finding(kind, request.gmc_number, request.ods_code, since, evidence))

    return sorted(found, key=lambda finding: finding.sort_key)
