"""Recording QOF declarations as CQRS shows them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput
from sqlalchemy import select

from payments import writes
from payments.detection import service as detection_service
from payments.models import (
    AuditEvent,
    DeclarationState,
    QofDeclaration,
)
from payments.schedule.rules import APPROVED

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True)
class DeclarationFacts:
    """A QOF declaration as CQRS shows it."""

    ods_code: str
    financial_year: int
    achievement_pence: int
    state: DeclarationState
    declared_on: date | None = None
    approved_on: date | None = None
    appealed_on: date | None = None
    retired_pence: int | None = None
    """The part of the achievement earned on indicators retired from the next year."""
    aspiration_paid_pence: int | None = None
    """The aspiration paid for the year, as CQRS shows it."""


def _validate(facts: DeclarationFacts, *, today: date) -> None:
    writes.financial_year_input(facts.financial_year, today=today)
    if facts.achievement_pence < 0:
        raise BadUserInput("`achievement` cannot be negative.", field="achievement")
    if facts.retired_pence is not None and not 0 <= facts.retired_pence <= facts.achievement_pence:
        raise BadUserInput(
            "`retiredAchievement` is part of the achievement: from 0 to the achievement.",
            field="retiredAchievement",
        )
    if facts.aspiration_paid_pence is not None and facts.aspiration_paid_pence < 0:
        raise BadUserInput("`aspirationPaid` cannot be negative.", field="aspirationPaid")
    if (facts.state in APPROVED) != (facts.approved_on is not None):
        raise BadUserInput(
            "`approvedOn` is required once approved (approved or paid), and only then.",
            field="approvedOn",
        )
    if (facts.state is DeclarationState.APPEALED) != (facts.appealed_on is not None):
        raise BadUserInput(
            "`appealedOn` is required for an appealed declaration, and only then.",
            field="appealedOn",
        )
    if facts.state is DeclarationState.AWAITING_PROVIDER_APPROVAL and facts.declared_on:
        raise BadUserInput(
            "A declaration awaiting the practice's sign-off has not been declared yet.",
            field="declaredOn",
        )
    dates = (
        (facts.declared_on, "declaredOn"),
        (facts.approved_on, "approvedOn"),
        (facts.appealed_on, "appealedOn"),
    )
    for value, name in dates:
        if value is not None:
            not_future(value, today=today, field=name)
            if value < date(facts.financial_year + 1, 4, 1):
                raise BadUserInput(
                    f"`{name}` comes after the year ends (achievement is as at 31 March).",
                    field=name,
                )
    if facts.declared_on and facts.approved_on and facts.approved_on < facts.declared_on:
        raise BadUserInput("`approvedOn` cannot be before `declaredOn`.", field="approvedOn")


async def record_qof_declaration(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    facts: DeclarationFacts,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """Record a QOF declaration as CQRS shows it (the practice, an accountant it consented to,
    or payments operators); once approved, the achievement balance falls due, and next year's
    aspiration follows from it."""
    writes.may_enter_facts(principal, facts.ods_code)
    _validate(facts, today=today)

    async def authorize(session: AsyncSession) -> None:
        # Before the key is looked up, so a replay is refused once consent is revoked.
        await writes.practice_or_consented(session, principal, [facts.ods_code])

    async def write(session: AsyncSession) -> writes.Written:
        await writes.known_practice(session, facts.ods_code)
        row = await session.scalar(
            select(QofDeclaration)
            .where(
                QofDeclaration.ods_code == facts.ods_code,
                QofDeclaration.financial_year == facts.financial_year,
            )
            .with_for_update()
        )
        before = None if row is None else writes.row_values(row)
        if row is None:
            row = QofDeclaration(ods_code=facts.ods_code, financial_year=facts.financial_year)
            session.add(row)
        row.achievement_pence = facts.achievement_pence
        row.state = facts.state
        row.declared_on = facts.declared_on
        row.approved_on = facts.approved_on
        row.appealed_on = facts.appealed_on
        row.retired_pence = facts.retired_pence
        row.aspiration_paid_pence = facts.aspiration_paid_pence
        row.updated_at = datetime.now(UTC)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_qof_declaration",
            entity="qof_declaration", key=f"{facts.ods_code}/{facts.financial_year}",
            before=before, after=writes.row_values(row),
        )  # fmt: skip
        await detection_service.sync_anomalies(session, [facts.ods_code], today=today)
        return writes.Written("qof_declaration", str(row.id))

    request = {k: str(v) if isinstance(v, date) else v for k, v in asdict(facts).items()}
    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordQofDeclaration",
        request=request, write=write,
        authorize=authorize,
    )  # fmt: skip
