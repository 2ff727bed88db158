"""GraphQL of disputes and their timelines."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from pcse_kit.auth import Forbidden
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import practice_code
from strawberry.types import Info

from payments import models, policy
from payments.context import PaymentsContext
from payments.detection.types import Anomaly
from payments.disputes import repository, service
from payments.disputes import rules as disputes
from payments.statements.types import StatementLine
from payments.types import Fact


@strawberry.type(description="A step in a dispute's timeline, with its evidence.")
class DisputeEvent:
    kind: models.DisputeEventKind = strawberry.field(description="What happened.")
    occurred_on: date = strawberry.field(description="When it happened.")
    note: str = strawberry.field(description="What was sent, received or said.")
    evidence: list[Fact] = strawberry.field(description="Receipts, CAS numbers, attachments.")
    recorded_at: datetime = strawberry.field(description="When it was recorded here.")
    recorded_by: str = strawberry.field(description="Who recorded it (the token's subject).")


@strawberry.type(description="A practice's query about a line or an anomaly.")
class Dispute:
    reference: str = strawberry.field(description="Our reference, e.g. PAY-1A2B3C4D5E.")
    ods_code: str = strawberry.field(description="The practice.")
    subject: str = strawberry.field(description="What is disputed.")
    opened_at: datetime = strawberry.field(description="When it was opened.")
    opened_by: str = strawberry.field(description="Who opened it.")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved.")
    outcome: str | None = strawberry.field(description="How it was resolved.")
    row: strawberry.Private[models.Dispute]

    @classmethod
    def from_row(cls, row: models.Dispute) -> Dispute:
        return cls(
            reference=row.reference,
            ods_code=row.ods_code,
            subject=row.subject,
            opened_at=row.opened_at,
            opened_by=row.opened_by,
            resolved_at=row.resolved_at,
            outcome=row.outcome,
            row=row,
        )

    @strawberry.field(description="Days since it was opened (to its resolution, once resolved).")
    def age_days(self, info: Info[PaymentsContext, None]) -> int:
        return disputes.age_days(self.row, today=info.context.today)

    @strawberry.field(
        description="Open for more than 40 days: the LMC may escalate it to PCSE and NHS England."
    )
    def escalatable(self, info: Info[PaymentsContext, None]) -> bool:
        return disputes.escalatable(self.row, today=info.context.today)

    @strawberry.field(description="Every step, oldest first: append-only.")
    async def timeline(self, info: Info[PaymentsContext, None]) -> list[DisputeEvent]:
        rows = await info.context.dispute_events.load(self.row.id)
        return [
            DisputeEvent(
                kind=r.kind,
                occurred_on=r.occurred_on,
                note=r.note,
                evidence=Fact.many(r.evidence),
                recorded_at=r.recorded_at,
                recorded_by=r.recorded_by,
            )
            for r in rows
        ]

    @strawberry.field(description="The disputed line, if a line is disputed.")
    async def line(self, info: Info[PaymentsContext, None]) -> StatementLine | None:
        if self.row.line_id is None:
            return None
        row = await info.context.line_by_id.load(self.row.line_id)
        return None if row is None else StatementLine.from_row(row)

    @strawberry.field(description="The disputed anomaly, if an anomaly is disputed.")
    async def anomaly(self, info: Info[PaymentsContext, None]) -> Anomaly | None:
        if self.row.anomaly_id is None:
            return None
        row = await info.context.anomaly_by_id.load(self.row.anomaly_id)
        return None if row is None else Anomaly.from_row(row)

    @strawberry.field(
        description="A late-payment notice the practice can send, citing the evidence and the "
        "timeline."
    )
    async def late_payment_notice(self, info: Info[PaymentsContext, None]) -> str:
        line = (
            None
            if self.row.line_id is None
            else await info.context.line_by_id.load(self.row.line_id)
        )
        anomaly = (
            None
            if self.row.anomaly_id is None
            else await info.context.anomaly_by_id.load(self.row.anomaly_id)
        )
        events = await info.context.dispute_events.load(self.row.id)
        return disputes.late_payment_notice(
            self.row, line=line, anomaly=anomaly, events=events, today=info.context.today
        )


_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.input(description="What a dispute is about: one line or one anomaly.")
class OpenDisputeInput:
    ods_code: str = strawberry.field(description="The practice.")
    line_id: strawberry.ID | None = strawberry.field(default=None, description="A line's id.")
    anomaly_id: strawberry.ID | None = strawberry.field(
        default=None, description="An anomaly's id."
    )
    subject: str = strawberry.field(description="What is disputed, in a sentence.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="One label and value of evidence.")
class FactInput:
    label: str = strawberry.field(description="e.g. CAS number.")
    value: str = strawberry.field(description="e.g. CAS-1234567.")


@strawberry.input(description="A step in a dispute's timeline.")
class DisputeEventInput:
    reference: str = strawberry.field(description="The dispute.")
    kind: models.DisputeEventKind = strawberry.field(description="Sent, receipt, response...")
    occurred_on: date = strawberry.field(description="When it happened.")
    note: str = strawberry.field(description="What happened.")
    evidence: list[FactInput] = strawberry.field(
        default_factory=list, description="What was sent, receipts, CAS numbers."
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A dispute's outcome.")
class ResolveDisputeInput:
    reference: str = strawberry.field(description="The dispute.")
    outcome: str = strawberry.field(description="Paid, corrected, withdrawn...")
    idempotency_key: str = strawberry.field(description=_KEY)


def _id(value: strawberry.ID | None, *, field: str) -> int | None:
    if value is None:
        return None
    if not str(value).isdigit() or len(str(value)) > 18:  # noqa: PLR2004 - fits a bigint
        raise BadUserInput(f"`{field}` is not an id this service gave.", field=field)
    return int(value)


async def _dispute(info: Info[PaymentsContext, None], reference: str) -> Dispute:
    async with info.context.sessionmaker() as session:
        row = await repository.dispute_by_reference(session, reference)
    if row is None:  # pragma: no cover - just written in a committed transaction
        raise Forbidden
    return Dispute.from_row(row)


@strawberry.type(description="A practice's disputes.")
class DisputesOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(
        description="The practice's disputes, newest first. Not for accountants: FORBIDDEN, "
        "and null, for anyone but the practice, payments operators and admins."
    )
    async def disputes(
        self,
        info: Info[PaymentsContext, None],
        open_only: Annotated[
            bool, strawberry.argument(name="openOnly", description="Only unresolved ones.")
        ] = False,
    ) -> list[Dispute] | None:
        await policy.read_disputes(info.context, self.ods_code)
        rows = await info.context.disputes.load(self.ods_code)
        return [Dispute.from_row(r) for r in rows if not open_only or r.resolved_at is None]


@strawberry.type
class DisputesMutation:
    @strawberry.mutation(
        description="Open a dispute about a line or an anomaly of the practice's (the practice "
        "itself, payments operators, admins); it gets a reference and a timeline."
    )
    async def open_dispute(
        self, info: Info[PaymentsContext, None], input: OpenDisputeInput
    ) -> Dispute:
        written = await service.open_dispute(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            line_id=_id(input.line_id, field="lineId"),
            anomaly_id=_id(input.anomaly_id, field="anomalyId"),
            subject=input.subject,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _dispute(info, written.key)

    @strawberry.mutation(
        description="Add a step to a dispute's timeline: what was sent, a receipt, a reply, an "
        "escalation, with evidence."
    )
    async def add_dispute_event(
        self, info: Info[PaymentsContext, None], input: DisputeEventInput
    ) -> Dispute:
        written = await service.add_dispute_event(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            kind=input.kind,
            occurred_on=input.occurred_on,
            note=input.note,
            evidence=[(e.label, e.value) for e in input.evidence],
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _dispute(info, written.key)

    @strawberry.mutation(description="Resolve a dispute with its outcome; it stays on record.")
    async def resolve_dispute(
        self, info: Info[PaymentsContext, None], input: ResolveDisputeInput
    ) -> Dispute:
        written = await service.resolve_dispute(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            outcome=input.outcome,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _dispute(info, written.key)
