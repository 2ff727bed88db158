"""What every write of the payments service shares: who may write, common checks, and the
idempotency key and audit values every mutation uses.

A write validates everything first (a typed error names the field or row, and nothing is
written), then in one transaction claims its idempotency key, writes, re-detects the anomalies
of the practices it touched, and appends to the audit trail: the change and its consequences
commit together or not at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pcse_kit import audit
from pcse_kit.auth import Forbidden, Role
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import free_text
from sqlalchemy import or_, select

from payments import policy
from payments.models import (
    AccountantConsent,
    IdempotencyKey,
    PerformerMembership,
    PracticeDirectory,
)
from payments.rates import financial_year

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

FIRST_YEAR = 2004
"""The GMS contract, and QOF with it, began in 2004/05."""


@dataclass(frozen=True)
class Written:
    """What a mutation changed: the table and key to read it back by."""

    entity: str
    key: str


def operator(principal: Principal) -> None:
    if not principal.operates(policy.DOMAIN):
        raise Forbidden


def operator_or_practice(principal: Principal, ods_code: str) -> None:
    if not (principal.operates(policy.DOMAIN) or principal.is_practice_of(ods_code)):
        raise Forbidden


async def practice_or_consented(
    session: AsyncSession, principal: Principal, ods_codes: Iterable[str]
) -> None:
    """Facts a practice enters itself (its own statements, CQRS states, placements, claims):
    this domain's operators, the practice, or an accountant it has consented to, checked in
    the writing transaction so a revocation applies at once. Anyone else is refused without
    learning whether the practice exists."""
    codes = set(ods_codes)
    if principal.operates(policy.DOMAIN):
        return
    if principal.role is Role.PRACTICE and all(principal.is_practice_of(c) for c in codes):
        return
    if principal.role is Role.ACCOUNTANT and codes:
        consented = set(
            await session.scalars(
                select(AccountantConsent.ods_code).where(
                    AccountantConsent.accountant_id == principal.subject,
                    AccountantConsent.ods_code.in_(sorted(codes)),
                    AccountantConsent.revoked_at.is_(None),
                )
            )
        )
        if consented == codes:
            return
    raise Forbidden


def may_enter_facts(principal: Principal, ods_code: str) -> None:
    """The cheap part of :func:`practice_or_consented`, before any work: an accountant's
    consent is checked again, in the transaction."""
    if principal.operates(policy.DOMAIN) or principal.is_practice_of(ods_code):
        return
    if principal.role is Role.ACCOUNTANT:
        return
    raise Forbidden


def financial_year_input(year: int, *, today: date, field: str = "financialYear") -> int:
    if not FIRST_YEAR <= year <= financial_year(today) + 1:
        raise BadUserInput(
            f"`{field}` must be a financial year from {FIRST_YEAR} to next year, by the year "
            "it starts (2025 is 2025/26).",
            field=field,
        )
    return year


PRACTICE_BACKDATE_DAYS = 3
"""How far back a practice may date a submission it records: a form sent on PCSE Online on a
Friday and recorded here on the Monday. A chosen bound, not a published one."""


def submitted_on_input(
    principal: Principal, value: date, *, today: date, field: str = "submittedOn"
) -> date:
    """The day a form was sent to PCSE, which its deadline is judged by (a locum form's 7th of
    the following month and 10-week rule; an estimate sets the deductions). Never in the future.
    A practice records its own submission within :data:`PRACTICE_BACKDATE_DAYS` days, so it
    cannot date a late form on time; this domain's operators (PCSE, holding the stamped
    receipt) record any earlier day."""
    not_future(value, today=today, field=field)
    earliest = today - timedelta(days=PRACTICE_BACKDATE_DAYS)
    if value < earliest and not principal.operates(policy.DOMAIN):
        raise BadUserInput(
            f"`{field}` can be at most {PRACTICE_BACKDATE_DAYS} days before today "
            f"({earliest.isoformat()}) when a practice records it, since the deadline is judged "
            "by it; an earlier submission is recorded by PCSE from its receipt.",
            field=field,
        )
    return value


def text_input(value: str, *, field: str, limit: int) -> str:
    # Free text reaches operators, admins and the audit trail: never an NHS number in it.
    return free_text(value, field=field, limit=limit)


async def idempotent(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    key: str,
    operation: str,
    request: dict[str, Any],
    write: Callable[[AsyncSession], Awaitable[Written]],
    authorize: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> Written:
    """Run ``write`` once per key: a replay gets the first result and changes nothing.

    ``authorize`` runs in the same transaction before the key is looked up, for the first
    request and every replay alike: a right that depends on data (an accountant's consent, or
    a GP's post at the practice, either of which may have ended since) is checked again on a
    replay.
    """

    async def remembered(session: AsyncSession) -> dict[str, Any]:
        return asdict(await write(session))

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=key,
        operation=operation,
        request=request,
        write=remembered,
        authorize=authorize,
    )
    return Written(**response)


async def performer_works_at(
    session: AsyncSession,
    principal: Principal,
    *,
    gmc_number: str,
    ods_code: str,
    financial_year: int,
    today: date,
) -> None:
    """A practice writes about a GP only while the GP works there: a post at the practice, in
    this service's copy of the performers list's memberships (which no practice can write),
    not ended before today and overlapping the financial year named. Operators of this domain
    record for any GP. Anyone else is refused without learning whether the GP exists."""
    if principal.operates(policy.DOMAIN):
        return
    year_start, year_end = date(financial_year, 4, 1), date(financial_year + 1, 3, 31)
    post = await session.scalar(
        select(PerformerMembership.id)
        .where(
            PerformerMembership.gmc_number == gmc_number,
            PerformerMembership.ods_code == ods_code,
            PerformerMembership.start_date <= year_end,
            or_(
                PerformerMembership.end_date.is_(None),
                PerformerMembership.end_date >= max(today, year_start),
            ),
        )
        .limit(1)
    )
    if post is None:
        raise Forbidden


async def known_practice(session: AsyncSession, ods_code: str) -> None:
    if not await session.get(PracticeDirectory, ods_code):
        raise BadUserInput("No such practice in the practice directory.", field="odsCode")


def row_values(row: Any) -> dict[str, Any]:
    """A row's columns as JSON-ready values, for the audit trail."""
    values: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if isinstance(value, date | datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        values[column.key] = value
    return values
