"""GraphQL of disputes: their timelines, attachments, escalation, notice and LMC pack."""

from __future__ import annotations

import base64
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from pcse_kit.auth import Forbidden
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import practice_code
from strawberry.federation.schema_directives import Cost, ListSize
from strawberry.scalars import JSON
from strawberry.types import Info

from payments import models, policy
from payments.context import PaymentsContext
from payments.detection.types import Anomaly
from payments.disputes import pack as pdf
from payments.disputes import repository, service
from payments.disputes import rules as disputes
from payments.statements.ingest import pounds_pence
from payments.statements.types import StatementLine
from payments.types import Fact, pounds

PACK_COST = 20
"""A notice or a pack reads the practice, the rules and the whole timeline: 20 fields' worth."""
PDF_COST = 50


@strawberry.type(description="A file kept as evidence of a dispute, identified by its SHA-256.")
class DisputeAttachment:
    id: strawberry.ID = strawberry.field(description="The attachment's id.")
    step_id: strawberry.ID | None = strawberry.field(
        description="The timeline step it is evidence of, if any."
    )
    file_name: str = strawberry.field(description="The file's name as uploaded.")
    media_type: str = strawberry.field(description="application/pdf, image/png, ...")
    size_bytes: int = strawberry.field(description="Its size in bytes.")
    sha256: str = strawberry.field(description="SHA-256 of its content, hex: proves what it was.")
    uploaded_at: datetime = strawberry.field(description="When it was kept here.")
    uploaded_by: str = strawberry.field(description="Who uploaded it (the token's subject).")

    @classmethod
    def from_row(cls, row: models.DisputeAttachment) -> DisputeAttachment:
        return cls(
            id=strawberry.ID(str(row.id)),
            step_id=None if row.event_id is None else strawberry.ID(str(row.event_id)),
            file_name=row.file_name,
            media_type=row.media_type,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            uploaded_at=row.uploaded_at,
            uploaded_by=row.uploaded_by,
        )


@strawberry.type(description="A step in a dispute's timeline, with its evidence.")
class DisputeEvent:
    id: strawberry.ID = strawberry.field(description="The step's id (to attach a file to it).")
    kind: models.DisputeEventKind = strawberry.field(description="What happened.")
    occurred_on: date = strawberry.field(description="When it happened.")
    note: str = strawberry.field(description="What was sent, received or said.")
    evidence: list[Fact] = strawberry.field(description="Receipts, CAS numbers, attachments.")
    recorded_at: datetime = strawberry.field(description="When it was recorded here.")
    recorded_by: str = strawberry.field(description="Who recorded it (the token's subject).")


@strawberry.type(description="A remedy open to the practice if the query is not resolved.")
class Remedy:
    route: str = strawberry.field(description="Where the dispute can go.")
    basis: str = strawberry.field(description="Why this route is open to this practice.")
    source: str = strawberry.field(description="The law or guidance it rests on.")


@strawberry.type(
    description="A practice's query about something it is owed: a line, an anomaly, a claim it "
    "recorded, or an item with the amount claimed."
)
class Dispute:
    reference: str = strawberry.field(description="Our reference, e.g. PAY-1A2B3C4D5E.")
    ods_code: str = strawberry.field(description="The practice.")
    subject: str = strawberry.field(description="What is disputed.")
    raised_on: date = strawberry.field(
        description="When the practice first raised it with PCSE: the escalation clock runs "
        "from here."
    )
    cas_reference: str | None = strawberry.field(
        description="PCSE's case reference for the enquiry (CAS-...)."
    )
    component: models.Component | None = strawberry.field(
        description="What the money is, for an item of the practice's own."
    )
    amount_claimed: Decimal | None = strawberry.field(
        description="Pounds the practice says it is owed, where it said."
    )
    health_service_body: bool | None = strawberry.field(
        description="Whether the contractor elected to be a health service body (null: not "
        "said); decides the routes to a remedy."
    )
    opened_at: datetime = strawberry.field(description="When it was recorded here.")
    opened_by: str = strawberry.field(description="Who recorded it.")
    escalated_on: date | None = strawberry.field(description="When it went to the LMC.")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved.")
    outcome: str | None = strawberry.field(description="How it was resolved.")
    row: strawberry.Private[models.Dispute]

    @classmethod
    def from_row(cls, row: models.Dispute) -> Dispute:
        return cls(
            reference=row.reference,
            ods_code=row.ods_code,
            subject=row.subject,
            raised_on=row.raised_on,
            cas_reference=row.cas_reference,
            component=row.component,
            amount_claimed=None
            if row.amount_claimed_pence is None
            else pounds(row.amount_claimed_pence),
            health_service_body=row.health_service_body,
            opened_at=row.opened_at,
            opened_by=row.opened_by,
            escalated_on=row.escalated_on,
            resolved_at=row.resolved_at,
            outcome=row.outcome,
            row=row,
        )

    @strawberry.field(
        description="Days since it was first raised with PCSE (to its resolution, once resolved)."
    )
    def age_days(self, info: Info[PaymentsContext, None]) -> int:
        return disputes.age_days(self.row, today=info.context.today)

    @strawberry.field(
        description="The first day the LMC may escalate it: after 40 days unresolved (day 41), "
        "as the rule in force when it was raised says."
    )
    async def escalatable_on(self, info: Info[PaymentsContext, None]) -> date:
        days = await info.context.escalation_days.load(self.row.raised_on)
        return disputes.escalatable_on(self.row, days=days)

    @strawberry.field(
        description="Unresolved for more than 40 days since it was first raised: the practice "
        "may ask its LMC to escalate it to PCSE and the commissioner."
    )
    async def escalatable(self, info: Info[PaymentsContext, None]) -> bool:
        days = await info.context.escalation_days.load(self.row.raised_on)
        return disputes.escalatable(self.row, today=info.context.today, days=days)

    @strawberry.field(description="Every step, oldest first: append-only.")
    async def timeline(self, info: Info[PaymentsContext, None]) -> list[DisputeEvent]:
        rows = await info.context.dispute_events.load(self.row.id)
        return [
            DisputeEvent(
                id=strawberry.ID(str(r.id)),
                kind=r.kind,
                occurred_on=r.occurred_on,
                note=r.note,
                evidence=Fact.many(r.evidence),
                recorded_at=r.recorded_at,
                recorded_by=r.recorded_by,
            )
            for r in rows
        ]

    @strawberry.field(
        description="Files kept as evidence (at most 20), oldest first; their content is not "
        "served here, their SHA-256 proves it."
    )
    async def attachments(self, info: Info[PaymentsContext, None]) -> list[DisputeAttachment]:
        rows = await info.context.dispute_attachments.load(self.row.id)
        return [DisputeAttachment.from_row(r) for r in rows]

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
        description="The routes to a remedy by the practice's contract (NHS dispute resolution "
        "through NHS Resolution's Primary Care Appeals; the courts for a contractor that is not "
        "a health service body), each with its source.",
        directives=[Cost(weight=PACK_COST)],
    )
    async def remedies(self, info: Info[PaymentsContext, None]) -> list[Remedy]:
        case = await _case(info, self.row)
        return [
            Remedy(route=r.route, basis=r.basis, source=r.source)
            for r in disputes.remedies(case.contract_type, self.row.health_service_body)
        ]

    @strawberry.field(
        description="A late-payment notice the practice can send, addressed to the commissioner "
        "(the ICB under delegation, or the line's paymaster), citing its contractual basis, "
        "the evidence and the timeline.",
        directives=[Cost(weight=PACK_COST)],
    )
    async def late_payment_notice(self, info: Info[PaymentsContext, None]) -> str:
        case = await _case(info, self.row)
        days = await info.context.escalation_days.load(self.row.raised_on)
        return disputes.late_payment_notice(case, today=info.context.today, days=days)

    @strawberry.field(
        description="The LMC escalation pack as JSON: the practice, the query, the amount, the "
        "dates, the evidence and attachments, the CAS number, the addressee, the contractual "
        "basis and the routes to a remedy.",
        directives=[Cost(weight=PACK_COST)],
    )
    async def escalation_pack(self, info: Info[PaymentsContext, None]) -> JSON:
        return JSON(await _pack(info, self.row))

    @strawberry.field(
        description="The same pack as a printable A4 PDF, base64.",
        directives=[Cost(weight=PDF_COST)],
    )
    async def escalation_pack_pdf(self, info: Info[PaymentsContext, None]) -> str:
        return base64.b64encode(pdf.pack_pdf(await _pack(info, self.row))).decode("ascii")


async def _case(info: Info[PaymentsContext, None], row: models.Dispute) -> disputes.Case:
    async with info.context.sessionmaker() as session:
        return await repository.case(session, row)


async def _pack(info: Info[PaymentsContext, None], row: models.Dispute) -> dict[str, Any]:
    case = await _case(info, row)
    days = await info.context.escalation_days.load(row.raised_on)
    return disputes.escalation_pack(case, today=info.context.today, days=days)


_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.input(description="Something owed that no line, anomaly or claim here records.")
class DisputeItemInput:
    component: models.Component = strawberry.field(
        description="What the money is: an enhanced service, the training grant, a locum..."
    )
    amount_claimed: Decimal = strawberry.field(description="Pounds owed to the practice.")


@strawberry.input(
    description="What a dispute is about: exactly one of a line, an anomaly, a claim the "
    "practice recorded, or an item."
)
class OpenDisputeInput:
    ods_code: str = strawberry.field(description="The practice.")
    line_id: strawberry.ID | None = strawberry.field(default=None, description="A line's id.")
    anomaly_id: strawberry.ID | None = strawberry.field(
        default=None, description="An anomaly's id."
    )
    claim_id: strawberry.ID | None = strawberry.field(
        default=None, description="A claim's id (practicePayments.claims)."
    )
    item: DisputeItemInput | None = strawberry.field(
        default=None, description="Something owed that nothing here records."
    )
    amount_claimed: Decimal | None = strawberry.field(
        default=None,
        description="Pounds the practice says it is owed, for a line, an anomaly or a claim "
        "(an item carries its own).",
    )
    subject: str = strawberry.field(description="What is disputed, in a sentence.")
    raised_on: date | None = strawberry.field(
        default=None,
        description="When the practice first raised it with PCSE (today if not given; never "
        "in the future).",
    )
    cas_reference: str | None = strawberry.field(
        default=None, description="PCSE's case reference, e.g. CAS-01234-A1B2C3."
    )
    health_service_body: bool | None = strawberry.field(
        default=None,
        description="Whether the contractor elected to be a health service body (its contract "
        "is then an NHS contract); leave out if not known.",
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="One label and value of evidence.")
class FactInput:
    label: str = strawberry.field(description="e.g. Read receipt.")
    value: str = strawberry.field(description="e.g. Read by PCSE on 2026-10-30 10:12.")


@strawberry.input(description="A step in a dispute's timeline, dated when it happened.")
class DisputeEventInput:
    reference: str = strawberry.field(description="The dispute.")
    kind: models.DisputeEventKind = strawberry.field(description="Sent, receipt, response...")
    occurred_on: date = strawberry.field(
        description="When it happened: on or after the day the query was first raised."
    )
    note: str = strawberry.field(description="What happened.")
    evidence: list[FactInput] = strawberry.field(
        default_factory=list, description="What was sent, receipts (at most 20)."
    )
    cas_reference: str | None = strawberry.field(
        default=None, description="PCSE's case reference, if this step gave it."
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="The practice asks its LMC to escalate a dispute.")
class EscalateDisputeInput:
    reference: str = strawberry.field(description="The dispute.")
    note: str | None = strawberry.field(default=None, description="What the LMC should know.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A file kept as evidence of a dispute.")
class AttachDisputeEvidenceInput:
    reference: str = strawberry.field(description="The dispute.")
    step_id: strawberry.ID | None = strawberry.field(
        default=None, description="The timeline step it is evidence of."
    )
    file_name: str = strawberry.field(description="The file's name (no path).")
    media_type: str = strawberry.field(
        description="application/pdf, image/png, image/jpeg, text/plain or message/rfc822."
    )
    content: str = strawberry.field(description="The file, base64; at most 2 MiB decoded.")
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


def _pence(value: Decimal | None, *, field: str) -> int | None:
    return None if value is None else pounds_pence(value, field=field)


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
        "and null, for anyone but the practice, payments operators and admins.",
        directives=[
            ListSize(assumed_size=10, require_one_slicing_argument=False)  # type: ignore[call-arg]
        ],
    )
    async def disputes(
        self,
        info: Info[PaymentsContext, None],
        open_only: Annotated[
            bool, strawberry.argument(name="openOnly", description="Only unresolved ones.")
        ] = False,
        cas_reference: Annotated[
            str | None,
            strawberry.argument(
                name="casReference", description="Only the one with this CAS reference."
            ),
        ] = None,
    ) -> list[Dispute] | None:
        await policy.read_disputes(info.context, self.ods_code)
        cas = None if cas_reference is None else disputes.cas_reference(cas_reference)
        rows = await info.context.disputes.load(self.ods_code)
        return [
            Dispute.from_row(r)
            for r in rows
            if (not open_only or r.resolved_at is None) and (cas is None or r.cas_reference == cas)
        ]


MAX_ESCALATIONS = 100


async def lmc_escalations(
    info: Info[PaymentsContext, None], lmc_code: str, first: int
) -> list[Dispute]:
    if not 1 <= first <= MAX_ESCALATIONS:
        raise BadUserInput(f"`first` must be 1-{MAX_ESCALATIONS}.", field="first")
    async with info.context.sessionmaker() as session:
        rows = await repository.escalated_in_lmc(session, lmc_code, limit=first)
    return [Dispute.from_row(r) for r in rows]


@strawberry.type
class DisputesMutation:
    @strawberry.mutation(
        description="Open a dispute about anything the practice is owed: a line, an anomaly, a "
        "claim it recorded, or an item with the amount claimed (the practice itself, payments "
        "operators, admins), dated from when it was first raised with PCSE."
    )
    async def open_dispute(
        self, info: Info[PaymentsContext, None], input: OpenDisputeInput
    ) -> Dispute:
        item = (
            None
            if input.item is None
            else service.Item(
                component=input.item.component,
                amount_pence=pounds_pence(input.item.amount_claimed, field="amountClaimed"),
            )
        )
        written = await service.open_dispute(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            line_id=_id(input.line_id, field="lineId"),
            anomaly_id=_id(input.anomaly_id, field="anomalyId"),
            claim_id=_id(input.claim_id, field="claimId"),
            item=item,
            amount_claimed_pence=_pence(input.amount_claimed, field="amountClaimed"),
            subject=input.subject,
            raised_on=input.raised_on,
            cas_reference=input.cas_reference,
            health_service_body=input.health_service_body,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _dispute(info, written.key)

    @strawberry.mutation(
        description="Add a step to a dispute's timeline, dated when it happened: what was sent, "
        "a receipt (with the CAS number), a reply, with evidence."
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
            cas_reference=input.cas_reference,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _dispute(info, written.key)

    @strawberry.mutation(
        description="Ask the LMC to escalate a dispute: from day 41 after it was first raised "
        "(refused before, BAD_USER_INPUT) and with its CAS reference. The LMC then sees it with "
        "its pack."
    )
    async def escalate_dispute(
        self, info: Info[PaymentsContext, None], input: EscalateDisputeInput
    ) -> Dispute:
        written = await service.escalate_dispute(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            note=input.note,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _dispute(info, written.key)

    @strawberry.mutation(
        description="Keep a file as evidence of a dispute (PDF, PNG, JPEG, plain text or an "
        "email; at most 2 MiB, 20 a dispute), with its SHA-256; the same file twice is kept once."
    )
    async def attach_dispute_evidence(
        self, info: Info[PaymentsContext, None], input: AttachDisputeEvidenceInput
    ) -> Dispute:
        written = await service.attach_evidence(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            step_id=_id(input.step_id, field="stepId"),
            file_name=input.file_name,
            media_type=input.media_type,
            content_base64=input.content,
            idempotency_key=input.idempotency_key,
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
