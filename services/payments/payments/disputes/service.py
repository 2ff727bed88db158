"""A practice's disputes: opened (dated from when PCSE first heard of them), added to with
dated steps and attachments, escalated to the LMC, resolved; every step kept."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from pcse_kit import audit
from pcse_kit.auth import Forbidden
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput, Conflict, NotFound
from sqlalchemy import func, select

from payments import events, policy, writes
from payments.disputes import repository, rules
from payments.models import (
    Anomaly,
    AuditEvent,
    Component,
    Dispute,
    DisputeAttachment,
    DisputeEvent,
    DisputeEventKind,
    PracticeClaim,
    PracticeDirectory,
    Statement,
    StatementLine,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MAX_AMOUNT_PENCE: Final = 10_000_000_00
"""£10m: more than any one item a practice is owed; a larger figure is a typing slip."""

ATTACHMENT_MAX_BYTES: Final = 2 * 1024 * 1024
"""2 MiB a file: a scanned letter, a claim form, an email with its read receipt. (Through the
gateway the request body limit, ``GATEWAY_MAX_BODY_BYTES``, applies first.)"""
ATTACHMENTS_PER_DISPUTE: Final = 20

# What a practice keeps as evidence, with the bytes each kind of file starts with: a file
# whose content is not what it says is refused, so what an LMC opens is what it was told.
ATTACHMENT_TYPES: Final[dict[str, tuple[bytes, ...]]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "text/plain": (),
    "message/rfc822": (),
}
TEXT_TYPES: Final = frozenset({"text/plain", "message/rfc822"})


def _new_reference() -> str:
    return f"PAY-{uuid.uuid4().hex[:10].upper()}"


@dataclass(frozen=True)
class Item:
    """Something the practice is owed that no line, anomaly or claim here records."""

    component: Component
    amount_pence: int


def amount_input(pence: int | None, *, field: str) -> int | None:
    if pence is None:
        return None
    if not 0 < pence <= MAX_AMOUNT_PENCE:
        raise BadUserInput(f"`{field}` must be more than £0 and at most £10,000,000.", field=field)
    return pence


async def open_dispute(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    line_id: int | None,
    anomaly_id: int | None,
    claim_id: int | None,
    item: Item | None,
    amount_claimed_pence: int | None,
    subject: str,
    raised_on: date | None,
    cas_reference: str | None,
    health_service_body: bool | None,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """A practice queries anything it is owed; the query gets a reference and a timeline whose
    clock starts the day the practice first raised it with PCSE."""
    writes.operator_or_practice(principal, ods_code)
    named = [x for x in (line_id, anomaly_id, claim_id, item) if x is not None]
    if len(named) != 1:
        raise BadUserInput(
            "Name exactly one of a line, an anomaly, a claim or an item.", field="lineId"
        )
    text = writes.text_input(subject, field="subject", limit=300)
    first = rules.raised_on_input(raised_on or today, today=today)
    cas = None if cas_reference is None else rules.cas_reference(cas_reference)
    claimed = amount_input(
        item.amount_pence if item is not None else amount_claimed_pence, field="amountClaimed"
    )

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
        if claim_id is not None:
            claim = await session.get(PracticeClaim, claim_id)
            if claim is None or claim.ods_code != ods_code:
                raise BadUserInput("No such claim recorded by this practice.", field="claimId")
            evidence = [
                ["Claim", f"{claim.reference}: {claim.description}"],
                ["Amount", f"{claim.amount_pence / 100:.2f}"],
                ["Claimed on", claim.claimed_on.isoformat()],
                ["State", claim.state.value],
            ]
        if item is not None:
            evidence = [
                ["Component", item.component.value],
                ["Amount claimed", f"{item.amount_pence / 100:.2f}"],
            ]
        if cas is not None:
            evidence.append(["CAS number", cas])
        dispute = Dispute(
            reference=_new_reference(), ods_code=ods_code, line_id=line_id,
            anomaly_id=anomaly_id, claim_id=claim_id,
            component=None if item is None else item.component,
            amount_claimed_pence=claimed, subject=text, raised_on=first, cas_reference=cas,
            health_service_body=health_service_body, opened_by=principal.subject,
            opened_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(dispute)
        await session.flush()
        session.add(
            DisputeEvent(
                dispute_id=dispute.id, kind=DisputeEventKind.OPENED, occurred_on=first,
                note=text, evidence=evidence, recorded_by=principal.subject,
            )
        )  # fmt: skip
        # Back-dated past its escalation day: the LMC may escalate it now, so say so now
        # rather than at the next daily run.
        await publish_escalatable(session, today=today, dispute_id=dispute.id)
        await audit.record(
            session, AuditEvent, actor=principal, action="open_dispute", entity="dispute",
            key=dispute.reference, before=None, after=writes.row_values(dispute),
        )  # fmt: skip
        return writes.Written("dispute", dispute.reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="openDispute",
        request={"odsCode": ods_code, "lineId": line_id, "anomalyId": anomaly_id,
                 "claimId": claim_id,
                 "item": None if item is None else [item.component.value, item.amount_pence],
                 "amountClaimed": claimed, "subject": text, "raisedOn": str(first),
                 "casReference": cas, "healthServiceBody": health_service_body},
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
    cas_reference: str | None,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """Add a step to a dispute's timeline, dated when it happened (an enquiry sent weeks ago,
    its read receipt): what was sent, a receipt, a reply. A CAS reference given here is the
    dispute's from now on."""
    if kind in {DisputeEventKind.OPENED, DisputeEventKind.RESOLVED, DisputeEventKind.ESCALATED}:
        raise BadUserInput(
            "Open, escalate and resolve a dispute with their own mutations.", field="kind"
        )
    not_future(occurred_on, today=today, field="occurredOn")
    text = writes.text_input(note, field="note", limit=2000)
    if len(evidence) > 20:  # noqa: PLR2004 - a timeline step, not an archive
        raise BadUserInput("At most 20 pieces of evidence per step.", field="evidence")
    pairs = [
        [
            writes.text_input(label, field="evidence", limit=100),
            writes.text_input(value, field="evidence", limit=500),
        ]
        for label, value in evidence
    ]
    cas = None if cas_reference is None else rules.cas_reference(cas_reference)
    if cas is not None and ["CAS number", cas] not in pairs:
        pairs.append(["CAS number", cas])

    async def write(session: AsyncSession) -> writes.Written:
        dispute = await _dispute_for(session, principal, reference)
        if dispute.resolved_at is not None:
            raise Conflict("This dispute is resolved.", field="reference")
        if occurred_on < dispute.raised_on:
            raise BadUserInput(
                "A step cannot come before the query was first raised "
                f"({dispute.raised_on.isoformat()}).",
                field="occurredOn",
            )
        before = writes.row_values(dispute)
        if cas is not None and dispute.cas_reference not in {None, cas}:
            raise BadUserInput(
                f"This dispute already has the CAS reference {dispute.cas_reference}.",
                field="casReference",
            )
        dispute.cas_reference = cas or dispute.cas_reference
        event = DisputeEvent(
            dispute_id=dispute.id, kind=kind, occurred_on=occurred_on, note=text,
            evidence=pairs, recorded_by=principal.subject,
        )  # fmt: skip
        session.add(event)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="add_dispute_event",
            entity="dispute", key=reference, before=before,
            after={**writes.row_values(dispute), "event": writes.row_values(event)},
        )  # fmt: skip
        return writes.Written("dispute", reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="addDisputeEvent",
        request={"reference": reference, "kind": kind.value, "on": str(occurred_on),
                 "note": text, "evidence": pairs, "casReference": cas},
        write=write,
    )  # fmt: skip


async def escalate_dispute(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    note: str | None,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """The practice asks its LMC to escalate the query: only once it has been unresolved for
    more than the escalation days since it was first raised, and with PCSE's CAS reference
    (PCSE's escalation process asks for both). The LMC then sees it with its pack."""
    text = None if note is None else writes.text_input(note, field="note", limit=2000)

    async def write(session: AsyncSession) -> writes.Written:
        dispute = await _dispute_for(session, principal, reference)
        if dispute.resolved_at is not None:
            raise Conflict("This dispute is resolved.", field="reference")
        if dispute.escalated_on is not None:
            raise Conflict(
                f"This dispute was escalated on {dispute.escalated_on.isoformat()}.",
                field="reference",
            )
        days = repository.days_in_force(
            await repository.escalation_days(session), dispute.raised_on
        )
        first_day = rules.escalatable_on(dispute, days=days)
        if today < first_day:
            raise BadUserInput(
                f"An LMC may escalate a query unresolved for more than {days} days since it "
                f"was first raised with PCSE ({dispute.raised_on.isoformat()}): from "
                f"{first_day.isoformat()}, day {days + 1}. Today is day "
                f"{rules.age_days(dispute, today=today)}.",
                field="reference",
            )
        if dispute.cas_reference is None:
            raise BadUserInput(
                "PCSE's escalation process needs the query's CAS reference: record it "
                "(addDisputeEvent with casReference) first.",
                field="casReference",
            )
        before = writes.row_values(dispute)
        dispute.escalated_on = today
        dispute.escalated_by = principal.subject
        event = DisputeEvent(
            dispute_id=dispute.id, kind=DisputeEventKind.ESCALATED, occurred_on=today,
            note=text or f"Escalated to the LMC on day {rules.age_days(dispute, today=today)}",
            evidence=[["CAS number", dispute.cas_reference],
                      ["First raised with PCSE", dispute.raised_on.isoformat()]],
            recorded_by=principal.subject,
        )  # fmt: skip
        session.add(event)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="escalate_dispute", entity="dispute",
            key=reference, before=before, after=writes.row_values(dispute),
        )  # fmt: skip
        return writes.Written("dispute", reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="escalateDispute",
        request={"reference": reference, "note": text},
        write=write,
    )  # fmt: skip


def attachment_content(content_base64: str, media_type: str) -> bytes:
    """The file's bytes, checked against the size and type limits before anything is read
    from the database."""
    if media_type not in ATTACHMENT_TYPES:
        raise BadUserInput(
            "`mediaType` must be one of " + ", ".join(sorted(ATTACHMENT_TYPES)) + ".",
            field="mediaType",
        )
    # Base64 is 4 characters for 3 bytes: refuse an oversized file before decoding it.
    if len(content_base64) > (ATTACHMENT_MAX_BYTES + 2) // 3 * 4 + 4:
        raise BadUserInput(
            f"`content` is larger than {ATTACHMENT_MAX_BYTES // (1024 * 1024)} MiB.",
            field="content",
        )
    try:
        content = base64.b64decode(content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise BadUserInput("`content` is not base64.", field="content") from None
    if not content:
        raise BadUserInput("`content` is empty.", field="content")
    if len(content) > ATTACHMENT_MAX_BYTES:
        raise BadUserInput(
            f"`content` is larger than {ATTACHMENT_MAX_BYTES // (1024 * 1024)} MiB.",
            field="content",
        )
    starts = ATTACHMENT_TYPES[media_type]
    if starts and not content.startswith(starts):
        raise BadUserInput(f"`content` is not a {media_type} file.", field="content")
    if media_type in TEXT_TYPES:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise BadUserInput(f"`content` is not UTF-8 {media_type}.", field="content") from None
    return content


async def attach_evidence(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    step_id: int | None,
    file_name: str,
    media_type: str,
    content_base64: str,
    idempotency_key: str,
) -> writes.Written:
    """Keep a file as evidence of a dispute (or of one step of it), with its SHA-256: the same
    file attached twice is one attachment."""
    name = writes.text_input(file_name, field="fileName", limit=200)
    if any(c in name for c in "/\\\x00"):
        raise BadUserInput("`fileName` is a file's name, not a path.", field="fileName")
    content = attachment_content(content_base64, media_type)
    digest = hashlib.sha256(content).hexdigest()

    async def write(session: AsyncSession) -> writes.Written:
        dispute = await _dispute_for(session, principal, reference)
        if step_id is not None:
            step = await session.get(DisputeEvent, step_id)
            if step is None or step.dispute_id != dispute.id:
                raise BadUserInput("No such step in this dispute's timeline.", field="stepId")
        held = await session.scalar(
            select(func.count())
            .select_from(DisputeAttachment)
            .where(DisputeAttachment.dispute_id == dispute.id)
        )
        same = await session.scalar(
            select(DisputeAttachment.id).where(
                DisputeAttachment.dispute_id == dispute.id, DisputeAttachment.sha256 == digest
            )
        )
        if same is not None:
            return writes.Written("dispute", reference)
        if (held or 0) >= ATTACHMENTS_PER_DISPUTE:
            raise BadUserInput(
                f"A dispute keeps at most {ATTACHMENTS_PER_DISPUTE} attachments.",
                field="content",
            )
        attached = DisputeAttachment(
            dispute_id=dispute.id, event_id=step_id, file_name=name, media_type=media_type,
            size_bytes=len(content), sha256=digest, content=content,
            uploaded_by=principal.subject,
        )  # fmt: skip
        session.add(attached)
        await session.flush()
        after: dict[str, Any] = {
            "id": attached.id, "dispute_id": dispute.id, "event_id": step_id,
            "file_name": name, "media_type": media_type, "size_bytes": len(content),
            "sha256": digest,
        }  # fmt: skip
        await audit.record(
            session, AuditEvent, actor=principal, action="attach_dispute_evidence",
            entity="dispute", key=reference, before=None, after=after,
        )  # fmt: skip
        return writes.Written("dispute", reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="attachDisputeEvidence",
        request={"reference": reference, "stepId": step_id, "fileName": name,
                 "mediaType": media_type, "sha256": digest},
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


async def publish_escalatable(
    session: AsyncSession,
    *,
    today: date,
    ods_codes: Sequence[str] | None = None,
    dispute_id: int | None = None,
) -> int:
    """Publish ``dispute.escalatable`` for every open dispute past its escalation days that has
    not had it: once per dispute (its marker is set in the same transaction), so a daily run
    that was missed loses nothing (the next publishes each one with its true age) and a second
    run publishes nothing. A dispute resolved (or withdrawn) before its day never has one.
    ``ods_codes`` or ``dispute_id`` narrow the pass (a refresh of some practices; one dispute
    just recorded). The count published."""
    rules_ = await repository.escalation_days(session)
    # No dispute can be escalatable before the shortest rule allows; the partial index holds
    # only open disputes without the marker, so the pass reads the few it may publish.
    shortest = min([r.days for r in rules_] or [rules.DEFAULT_ESCALATION_DAYS])
    query = (
        select(Dispute, PracticeDirectory.lmc_code)
        .outerjoin(PracticeDirectory, PracticeDirectory.ods_code == Dispute.ods_code)
        .where(
            Dispute.resolved_at.is_(None),
            Dispute.escalatable_published_at.is_(None),
            Dispute.raised_on <= today - timedelta(days=shortest + 1),
        )
        .order_by(Dispute.raised_on, Dispute.id)
        # Two runs at once: each dispute is published by the one that locked it.
        .with_for_update(of=Dispute, skip_locked=True)
    )
    if ods_codes is not None:
        query = query.where(Dispute.ods_code.in_(sorted(set(ods_codes))))
    if dispute_id is not None:
        query = query.where(Dispute.id == dispute_id)
    items = []
    now = datetime.now(UTC)
    for dispute, lmc_code in (await session.execute(query)).all():
        days = repository.days_in_force(rules_, dispute.raised_on)
        if not rules.escalatable(dispute, today=today, days=days):
            continue
        case = await repository.case(session, dispute)
        items.append(
            (
                events.DISPUTE_ESCALATABLE,
                dispute.ods_code,
                rules.escalatable_event(
                    dispute, lmc_code=lmc_code, amount_pence=case.amount_pence, today=today
                ),
            )
        )
        dispute.escalatable_published_at = now
    await session.flush()
    await events.publish_many(session, items)
    return len(items)
