"""SQL of disputes, their timelines and attachments, and what a notice or a pack says about
them. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from payments.disputes import rules
from payments.models import (
    Anomaly,
    Direction,
    Dispute,
    DisputeAttachment,
    DisputeEvent,
    PracticeClaim,
    PracticeDirectory,
    Statement,
    StatementLine,
    TimingKind,
    TimingRule,
)
from payments.rates import RateBook, pounds_text
from payments.schedule import repository as schedule_repository

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from sqlalchemy.ext.asyncio import AsyncSession


async def disputes_of_practices(session: AsyncSession, codes: Sequence[str]) -> list[Dispute]:
    return list(
        await session.scalars(
            select(Dispute)
            .where(Dispute.ods_code.in_(codes))
            .order_by(Dispute.ods_code, Dispute.opened_at.desc(), Dispute.id.desc())
        )
    )


async def dispute_by_reference(session: AsyncSession, reference: str) -> Dispute | None:
    return await session.scalar(select(Dispute).where(Dispute.reference == reference))


async def dispute_events(session: AsyncSession, dispute_ids: Sequence[int]) -> list[DisputeEvent]:
    return list(
        await session.scalars(
            select(DisputeEvent)
            .where(DisputeEvent.dispute_id.in_(dispute_ids))
            .order_by(DisputeEvent.dispute_id, DisputeEvent.id)
        )
    )


async def attachments(session: AsyncSession, dispute_ids: Sequence[int]) -> list[DisputeAttachment]:
    """Their metadata only: the content column is deferred and never read here."""
    return list(
        await session.scalars(
            select(DisputeAttachment)
            .where(DisputeAttachment.dispute_id.in_(dispute_ids))
            .order_by(DisputeAttachment.dispute_id, DisputeAttachment.id)
        )
    )


async def escalation_days(session: AsyncSession) -> list[TimingRule]:
    return list(
        await session.scalars(
            select(TimingRule)
            .where(TimingRule.kind == TimingKind.DISPUTE_ESCALATION)
            .order_by(TimingRule.effective_from)
        )
    )


def days_in_force(rules_: Sequence[TimingRule], on: date) -> int:
    """The escalation days in force on the day the query was first raised."""
    found = [r for r in rules_ if r.effective_from <= on]
    return found[-1].days if found else rules.DEFAULT_ESCALATION_DAYS


async def escalated_in_lmc(session: AsyncSession, lmc_code: str, *, limit: int) -> list[Dispute]:
    """The LMC's practices' escalated disputes, most recently escalated first."""
    return list(
        await session.scalars(
            select(Dispute)
            .join(PracticeDirectory, PracticeDirectory.ods_code == Dispute.ods_code)
            .where(PracticeDirectory.lmc_code == lmc_code, Dispute.escalated_on.is_not(None))
            .order_by(Dispute.escalated_on.desc(), Dispute.id.desc())
            .limit(limit)
        )
    )


async def case(session: AsyncSession, dispute: Dispute) -> rules.Case:
    """What a notice and a pack say: the practice, the thing disputed, whose money it is."""
    practice = await session.get(PracticeDirectory, dispute.ods_code)
    rates, deadlines, timings, commissioners = await schedule_repository.rates(session)
    book = RateBook(rates, deadlines, timings, commissioners)
    facts: list[tuple[str, str]] = []
    paymaster = None
    component = dispute.component
    amount = dispute.amount_claimed_pence
    direction = Direction.OWED_TO_PRACTICE
    on = dispute.raised_on
    paycode = ""
    about = dispute.subject
    if dispute.line_id is not None:
        found = await session.execute(
            select(StatementLine, Statement.period)
            .join(Statement, Statement.id == StatementLine.statement_id)
            .where(StatementLine.id == dispute.line_id)
        )
        line, period = found.one()
        paymaster, component, on, paycode = (
            line.paymaster, line.component, line.covers_from, line.paycode
        )  # fmt: skip
        about = f"statement line {line.paycode} {line.description} ({period:%B %Y})"
        facts += [
            ("Line", f"{line.paycode} {line.description}, {pounds_text(line.amount_pence)}"),
            ("Covers", f"{line.covers_from} to {line.covers_to}"),
            ("Status", line.status.value + (f" on {line.paid_on}" if line.paid_on else "")),
        ]
    if dispute.anomaly_id is not None:
        anomaly = await session.get(Anomaly, dispute.anomaly_id)
        assert anomaly is not None  # a foreign key
        component, on, direction = anomaly.component, anomaly.covers_from, anomaly.direction
        about = anomaly.summary
        amount = amount if amount is not None else anomaly.amount_at_stake_pence
        facts += [(str(k), str(v)) for k, v in anomaly.evidence.get("facts", [])]
    if dispute.claim_id is not None:
        claim = await session.get(PracticeClaim, dispute.claim_id)
        assert claim is not None  # a foreign key
        component, on = claim.component, claim.covers_from
        paycode = claim.paycode or ""
        about = f"claim {claim.reference}: {claim.description}"
        amount = amount if amount is not None else claim.amount_pence
        facts += [
            ("Claim", f"{claim.reference}, {claim.component.value.replace('_', ' ')}"),
            ("Covers", f"{claim.covers_from} to {claim.covers_to}"),
            ("Claimed on", claim.claimed_on.isoformat()),
            ("Claim state", claim.state.value
             + (f", approved {claim.approved_on}" if claim.approved_on else "")),
        ]  # fmt: skip
    if dispute.line_id is None and dispute.anomaly_id is None and dispute.claim_id is None:
        assert component is not None  # a check constraint
        about = f"{component.value.replace('_', ' ')}: {dispute.subject}"
    rule = None if component is None else book.commissioner(component, on, paycode)
    events = await dispute_events(session, [dispute.id])
    attached = [
        rules.Attached(
            file_name=a.file_name, media_type=a.media_type, size_bytes=a.size_bytes,
            sha256=a.sha256, event_id=a.event_id,
        )
        for a in await attachments(session, [dispute.id])
    ]  # fmt: skip
    return rules.Case(
        dispute=dispute,
        practice_name=None if practice is None else practice.name,
        icb_code=None if practice is None else practice.icb_code,
        lmc_code=None if practice is None else practice.lmc_code,
        contract_type=None if practice is None else practice.contract_type,
        about=about,
        component=component,
        amount_pence=amount,
        direction=direction,
        facts=facts,
        addressee=rules.addressee(
            rule=rule, paymaster=paymaster, icb_code=None if practice is None else practice.icb_code
        ),
        events=events,
        attachments=attached,
    )
