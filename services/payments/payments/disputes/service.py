"""A practice's disputes: opened, added to, resolved; every step kept."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.auth import Forbidden
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput, Conflict, NotFound
from sqlalchemy import select

from payments import policy, writes
from payments.models import (
    Anomaly,
    AuditEvent,
    Dispute,
    DisputeEvent,
    DisputeEventKind,
    Statement,
    StatementLine,
)

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def _new_reference() -> str:
    return f"PAY-{uuid.uuid4().hex[:10].upper()}"


async def open_dispute(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    line_id: int | None,
    anomaly_id: int | None,
    subject: str,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """A practice queries a line or an anomaly; the query gets a reference and a timeline."""
    writes.operator_or_practice(principal, ods_code)
    if (line_id is None) == (anomaly_id is None):
        raise BadUserInput("Name either a line or an anomaly.", field="lineId")
    text = writes.text_input(subject, field="subject", limit=300)

    async def write(session: AsyncSession) -> writes.Written:
        evidence: list[list[str]] = []
        if line_id is not None:
            found = await session.execute(
                select(StatementLine, Statement.ods_code)
                .join(Statement, Statement.id == StatementLine.statement_id)
                .where(StatementLine.id == line_id)
            )
            pair = found.first()
            # Another practice's line reads exactly like one that does not exist.
            if pair is None or pair[1] != ods_code:
                raise BadUserInput("No such line on this practice's statements.", field="lineId")
            line = pair[0]
            evidence = [
                ["Line", f"{line.id}: {line.paycode} {line.description}"],
                ["Amount", f"{line.amount_pence / 100:.2f}"],
                ["Covers", f"{line.covers_from} to {line.covers_to}"],
                ["Status", line.status.value],
            ]
        if anomaly_id is not None:
            anomaly = await session.get(Anomaly, anomaly_id)
            if anomaly is None or anomaly.ods_code != ods_code:
                raise BadUserInput("No such anomaly for this practice.", field="anomalyId")
            evidence = [["Anomaly", f"{anomaly.id}: {anomaly.summary}"], *anomaly.evidence["facts"]]
        dispute = Dispute(
            reference=_new_reference(), ods_code=ods_code, line_id=line_id,
            anomaly_id=anomaly_id, subject=text, opened_by=principal.subject,
            opened_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(dispute)
        await session.flush()
        session.add(
            DisputeEvent(
                dispute_id=dispute.id, kind=DisputeEventKind.OPENED, occurred_on=today,
                note=text, evidence=evidence, recorded_by=principal.subject,
            )
        )  # fmt: skip
        await audit.record(
            session, AuditEvent, actor=principal, action="open_dispute", entity="dispute",
            key=dispute.reference, before=None, after=writes.row_values(dispute),
        )  # fmt: skip
        return writes.Written("dispute", dispute.reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="openDispute",
        request={"odsCode": ods_code, "lineId": line_id, "anomalyId": anomaly_id,
                 "subject": text},
        write=write,
    )  # fmt: skip


async def _dispute_for(session: AsyncSession, principal: Principal, reference: str) -> Dispute:
    dispute = await session.scalar(
        select(Dispute).where(Dispute.reference == reference).with_for_update()
    )
    operator = principal.operates(policy.DOMAIN)
    if dispute is None and operator:
        raise NotFound("No dispute has this reference.", field="reference")
    if dispute is None or not (operator or principal.is_practice_of(dispute.ods_code)):
        raise Forbidden
    return dispute


async def add_dispute_event(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    kind: DisputeEventKind,
    occurred_on: date,
    note: str,
    evidence: list[tuple[str, str]],
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """Add a step to a dispute's timeline: what was sent, a receipt, a reply, an escalation."""
    if kind in {DisputeEventKind.OPENED, DisputeEventKind.RESOLVED}:
        raise BadUserInput("Open and resolve a dispute with their own mutations.", field="kind")
    not_future(occurred_on, today=today, field="occurredOn")
    text = writes.text_input(note, field="note", limit=2000)
    pairs = [
        [
            writes.text_input(label, field="evidence", limit=100),
            writes.text_input(value, field="evidence", limit=500),
        ]
        for label, value in evidence
    ]
    if len(pairs) > 20:  # noqa: PLR2004 - a timeline step, not an archive
        raise BadUserInput("At most 20 pieces of evidence per step.", field="evidence")

    async def write(session: AsyncSession) -> writes.Written:
        dispute = await _dispute_for(session, principal, reference)
        if dispute.resolved_at is not None:
            raise Conflict("This dispute is resolved.", field="reference")
        if occurred_on < dispute.opened_at.date():
            raise BadUserInput(
                "A step cannot come before the dispute was opened.", field="occurredOn"
            )
        event = DisputeEvent(
            dispute_id=dispute.id, kind=kind, occurred_on=occurred_on, note=text,
            evidence=pairs, recorded_by=principal.subject,
        )  # fmt: skip
        session.add(event)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="add_dispute_event",
            entity="dispute", key=reference, before=None, after=writes.row_values(event),
        )  # fmt: skip
        return writes.Written("dispute", reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="addDisputeEvent",
        request={"reference": reference, "kind": kind.value, "on": str(occurred_on),
                 "note": text, "evidence": pairs},
        write=write,
    )  # fmt: skip


async def resolve_dispute(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    outcome: str,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """Close a dispute with its outcome (paid, corrected, withdrawn...); it stays on record."""
    text = writes.text_input(outcome, field="outcome", limit=300)

    async def write(session: AsyncSession) -> writes.Written:
        dispute = await _dispute_for(session, principal, reference)
        if dispute.resolved_at is not None:
            raise Conflict("This dispute is already resolved.", field="reference")
        before = writes.row_values(dispute)
        dispute.resolved_at = datetime.now(UTC)
        dispute.outcome = text
        session.add(
            DisputeEvent(
                dispute_id=dispute.id, kind=DisputeEventKind.RESOLVED, occurred_on=today,
                note=text, evidence=[], recorded_by=principal.subject,
            )
        )  # fmt: skip
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="resolve_dispute", entity="dispute",
            key=reference, before=before, after=writes.row_values(dispute),
        )  # fmt: skip
        return writes.Written("dispute", reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="resolveDispute",
        request={"reference": reference, "outcome": text},
        write=write,
    )  # fmt: skip
