"""Recording a training practice's registrar placements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput
from sqlalchemy import delete, select

from payments import writes
from payments.detection import service as detection_service
from payments.models import AuditEvent, TraineePay, TraineePlacement

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True)
class PayChange:
    """What is reimbursed a month from ``applies_from``, decided on ``decided_on`` (None: known
    in advance)."""

    applies_from: date
    decided_on: date | None
    monthly_pence: int


async def record_trainee_placement(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    gmc_number: str,
    starts_on: date,
    ends_on: date,
    monthly_pence: int,
    idempotency_key: str,
    today: date,
    pay_changes: Sequence[PayChange] = (),
) -> writes.Written:
    """A registrar placed at a training practice (the practice, an accountant it consented to,
    or payments operators): reimbursement is due monthly while it lasts, pro rata for part
    months, and the trainer's grant with it. The same registrar from the same day is one
    placement: recording it again corrects it."""
    writes.may_enter_facts(principal, ods_code)
    if ends_on < starts_on:
        raise BadUserInput("`endsOn` cannot be before `startsOn`.", field="endsOn")
    if (ends_on - starts_on).days > 366 * 4:
        raise BadUserInput("A placement lasts at most four years.", field="endsOn")
    if monthly_pence <= 0:
        raise BadUserInput("`monthlyAmount` must be more than zero.", field="monthlyAmount")
    for change in pay_changes:
        if change.monthly_pence <= 0:
            raise BadUserInput("A pay change's `monthlyAmount` must be more than zero.",
                               field="payChanges")  # fmt: skip
        if not starts_on <= change.applies_from <= ends_on:
            raise BadUserInput(
                "A pay change applies from a day of the placement.", field="payChanges"
            )
        if change.decided_on is not None:
            not_future(change.decided_on, today=today, field="payChanges")
    if len({(c.applies_from, c.decided_on) for c in pay_changes}) < len(pay_changes):
        raise BadUserInput("Two pay changes from the same day and decision.", field="payChanges")

    async def authorize(session: AsyncSession) -> None:
        # Before the key is looked up, so a replay is refused once consent is revoked.
        await writes.practice_or_consented(session, principal, [ods_code])

    async def write(session: AsyncSession) -> writes.Written:
        await writes.known_practice(session, ods_code)
        row = await session.scalar(
            select(TraineePlacement)
            .where(
                TraineePlacement.ods_code == ods_code,
                TraineePlacement.gmc_number == gmc_number,
                TraineePlacement.starts_on == starts_on,
            )
            .with_for_update()
        )
        before = None if row is None else writes.row_values(row)
        if row is None:
            row = TraineePlacement(ods_code=ods_code, gmc_number=gmc_number, starts_on=starts_on)
            session.add(row)
        row.ends_on = ends_on
        row.monthly_pence = monthly_pence
        await session.flush()
        # The placement's pay changes are recorded whole: what is sent replaces what was.
        await session.execute(delete(TraineePay).where(TraineePay.placement_id == row.id))
        session.add_all(
            TraineePay(
                placement_id=row.id, applies_from=c.applies_from, decided_on=c.decided_on,
                monthly_pence=c.monthly_pence,
            )
            for c in pay_changes
        )  # fmt: skip
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_trainee_placement",
            entity="trainee_placement", key=str(row.id), before=before,
            after=writes.row_values(row),
        )  # fmt: skip
        await detection_service.sync_anomalies(session, [ods_code], today=today)
        return writes.Written("trainee_placement", str(row.id))

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordTraineePlacement",
        request={"odsCode": ods_code, "gmcNumber": gmc_number, "startsOn": str(starts_on),
                 "endsOn": str(ends_on), "pence": monthly_pence,
                 "payChanges": [[str(c.applies_from), str(c.decided_on), c.monthly_pence]
                                for c in pay_changes]},
        write=write,
        authorize=authorize,
    )  # fmt: skip
