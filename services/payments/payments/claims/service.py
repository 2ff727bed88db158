"""Recording the claims a practice makes: an approved claim is expected on a statement.

PCSE pays enhanced services through CQRS, and drugs, premises and locum reimbursements on
claims the commissioner approves; nothing feeds this service those claims, so the practice (or
an accountant it consented to) records them. A claim is kept by the practice's own reference:
recording the same reference again corrects it (a claim amended, approved, paid).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Final

from pcse_kit import audit
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput
from sqlalchemy import select

from payments import writes
from payments.detection import service as detection_service
from payments.models import AuditEvent, ClaimState, Component, Paycode, PracticeClaim
from payments.schedule.rules import claim_due

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

CLAIMABLE: Final = frozenset(
    {
        Component.ENHANCED_SERVICE,
        Component.PREMISES,
        Component.LOCUM_ALLOWANCE,
        Component.DRUGS,
        Component.DISPENSING_FEES,
        Component.PRESCRIPTION_CHARGE_INCOME,
        Component.OTHER,
    }
)
"""What a practice claims, rather than being paid on a schedule. A dispensing practice's
monthly submission prices its drugs and fees and deducts the prescription charges it
collected: the charges are a claim of the other sign."""

APPROVED: Final = frozenset({ClaimState.APPROVED, ClaimState.PAID})
MAX_REFERENCE: Final = 40
MAX_AMOUNT_PENCE: Final = 10_000_000_00
"""£10m: far above any one claim, low enough that a typo is caught."""


@dataclass(frozen=True)
class ClaimFacts:
    """A claim as the practice records it."""

    ods_code: str
    reference: str
    component: Component
    paycode: str | None
    description: str
    covers_from: date
    covers_to: date
    amount_pence: int
    """What was claimed, or once approved, the amount approved."""
    claimed_on: date
    approved_on: date | None
    state: ClaimState


def due_on(component: Component, approved_on: date) -> date:
    """When an approved claim should be paid (see :func:`payments.schedule.rules.claim_due`)."""
    return claim_due(component, approved_on)


def _validate(facts: ClaimFacts, *, today: date) -> ClaimFacts:
    reference = writes.text_input(facts.reference, field="reference", limit=MAX_REFERENCE)
    description = writes.text_input(facts.description, field="description", limit=200)
    if facts.component not in CLAIMABLE:
        raise BadUserInput(
            "A claim is for an enhanced service, premises, a locum, drugs, dispensing fees or "
            "other payments; the rest are paid on the schedule.",
            field="component",
        )
    if facts.covers_to < facts.covers_from:
        raise BadUserInput("`coversTo` cannot be before `coversFrom`.", field="coversTo")
    sign = -1 if facts.component.is_deduction else 1
    if not 0 < facts.amount_pence * sign <= MAX_AMOUNT_PENCE:
        raise BadUserInput(
            "`amount` must be more than zero (less, for prescription charges deducted), and "
            "under £10m.",
            field="amount",
        )
    not_future(facts.claimed_on, today=today, field="claimedOn")
    if (facts.state in APPROVED) != (facts.approved_on is not None):
        raise BadUserInput(
            "`approvedOn` is required once the claim is approved (approved or paid), and only "
            "then.",
            field="approvedOn",
        )
    if facts.approved_on is not None:
        not_future(facts.approved_on, today=today, field="approvedOn")
        if facts.approved_on < facts.claimed_on:
            raise BadUserInput("`approvedOn` cannot be before `claimedOn`.", field="approvedOn")
    return ClaimFacts(**{**asdict(facts), "reference": reference, "description": description})


async def record_claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    facts: ClaimFacts,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """Record (or correct) a claim; once approved it is expected by the end of the next
    month, and its lines are judged against it."""
    writes.may_enter_facts(principal, facts.ods_code)
    facts = _validate(facts, today=today)

    async def authorize(session: AsyncSession) -> None:
        # Before the key is looked up, so a replay is refused once consent is revoked.
        await writes.practice_or_consented(session, principal, [facts.ods_code])

    async def write(session: AsyncSession) -> writes.Written:
        await writes.known_practice(session, facts.ods_code)
        if facts.paycode is not None:
            paycode = await session.get(Paycode, facts.paycode)
            if paycode is None or paycode.component is not facts.component:
                raise BadUserInput(
                    f"`paycode` must be a paycode of {facts.component.value}.", field="paycode"
                )
        row = await session.scalar(
            select(PracticeClaim)
            .where(
                PracticeClaim.ods_code == facts.ods_code,
                PracticeClaim.reference == facts.reference,
            )
            .with_for_update()
        )
        before = None if row is None else writes.row_values(row)
        if row is None:
            row = PracticeClaim(ods_code=facts.ods_code, reference=facts.reference)
            session.add(row)
        for name, value in asdict(facts).items():
            setattr(row, name, value)
        row.updated_at = datetime.now(UTC)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_claim", entity="practice_claim",
            key=f"{facts.ods_code}/{facts.reference}", before=before,
            after=writes.row_values(row),
        )  # fmt: skip
        await detection_service.sync_anomalies(session, [facts.ods_code], today=today)
        return writes.Written("practice_claim", f"{facts.ods_code}/{facts.reference}")

    request = {k: str(v) if isinstance(v, date) else v for k, v in asdict(facts).items()}
    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordClaim", request=request,
        write=write,
        authorize=authorize,
    )  # fmt: skip
