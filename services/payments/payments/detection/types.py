"""GraphQL of anomalies, and an LMC's summary of them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.types import Info

from payments import models
from payments.context import PaymentsContext
from payments.detection import repository, service
from payments.directory import repository as directory_repository
from payments.disputes import repository as disputes_repository
from payments.disputes import rules as disputes
from payments.statements.types import StatementLine
from payments.types import Fact, pounds


@strawberry.type(description="A problem with a practice's payments, with its evidence.")
class Anomaly:
    id: strawberry.ID = strawberry.field(description="The anomaly, to open a dispute about it.")
    kind: models.AnomalyKind = strawberry.field(description="What is wrong.")
    severity: models.Severity = strawberry.field(description="How much it matters.")
    component: models.Component = strawberry.field(description="The component concerned.")
    covers_from: date = strawberry.field(description="The period concerned (its first day).")
    covers_to: date | None = strawberry.field(
        description="The period's last day, where it spans more than the month it starts "
        "(a year's QOF balance, a claim for a year, months judged together)."
    )
    gmc_number: str | None = strawberry.field(description="The performer, for pension problems.")
    claim_reference: str | None = strawberry.field(
        description="The practice's claim, for a claim unpaid or paid wrong."
    )
    amount_at_stake: Decimal = strawberry.field(description="Pounds at stake (never negative).")
    direction: models.Direction = strawberry.field(
        description="Which way the amount at stake goes: owed to the practice (paid short, "
        "late or not at all, or a deduction taken wrongly), or repayable by it (paid twice or "
        "too much, or contributions it owed not taken)."
    )
    summary: str = strawberry.field(description="The problem in a sentence.")
    facts: list[Fact] = strawberry.field(description="The facts that show it.")
    derivation: list[Fact] = strawberry.field(
        description="How the expected amount was derived, where one was expected."
    )
    first_detected_at: datetime = strawberry.field(description="When it was first detected.")
    last_detected_at: datetime = strawberry.field(description="When it was last confirmed.")
    resolved_at: datetime | None = strawberry.field(
        description="When it stopped being detected (paid, corrected); null while open."
    )
    line_ids: strawberry.Private[list[int]]

    @classmethod
    def from_row(cls, row: models.Anomaly) -> Anomaly:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            severity=row.severity,
            component=row.component,
            covers_from=row.covers_from,
            covers_to=row.covers_to,
            gmc_number=row.gmc_number,
            claim_reference=row.claim_reference,
            amount_at_stake=pounds(row.amount_at_stake_pence),
            direction=row.direction,
            summary=row.summary,
            facts=Fact.many(row.evidence.get("facts", [])),
            derivation=Fact.many(row.evidence.get("derivation", [])),
            first_detected_at=row.first_detected_at,
            last_detected_at=row.last_detected_at,
            resolved_at=row.resolved_at,
            line_ids=[int(i) for i in row.evidence.get("lineIds", [])],
        )

    @strawberry.field(description="True until it is resolved.")
    def open(self) -> bool:
        return self.resolved_at is None

    @strawberry.field(description="The statement lines that are the evidence.")
    async def lines(self, info: Info[PaymentsContext, None]) -> list[StatementLine]:
        rows = await info.context.line_by_id.load_many(self.line_ids)
        return [StatementLine.from_row(row) for row in rows if row is not None]


@strawberry.type(description="Open anomalies of one kind across an LMC's practices.")
class AnomalyKindSummary:
    kind: models.AnomalyKind = strawberry.field(description="The kind.")
    count: int = strawberry.field(description="How many are open.")
    amount_at_stake: Decimal = strawberry.field(
        description="Pounds at stake, all together, whichever way each goes."
    )
    owed_to_practices: Decimal = strawberry.field(
        description="Of it, pounds owed to the practices."
    )
    repayable_by_practices: Decimal = strawberry.field(
        description="Of it, pounds the practices may have to repay."
    )
    practices_affected: int = strawberry.field(description="How many practices have one.")
    practice_codes: list[str] = strawberry.field(description="Which practices, by ODS code.")


@strawberry.type(description="An open dispute in an LMC's area, by age (no correspondence).")
class DisputeAge:
    reference: str = strawberry.field(description="The dispute's reference.")
    ods_code: str = strawberry.field(description="The practice.")
    age_days: int = strawberry.field(description="Days open.")
    escalatable: bool = strawberry.field(description="Open for more than 40 days.")


@strawberry.type(description="An LMC's view of payment problems across its practices.")
class LmcPaymentsSummary:
    practices: int = strawberry.field(description="Practices in the area.")
    anomalies: list[AnomalyKindSummary] = strawberry.field(
        description="Open anomalies by kind: every kind, zero where there are none."
    )
    open_disputes: list[DisputeAge] = strawberry.field(
        description="Open disputes, oldest first, with their ages."
    )

    @strawberry.field(description="Open disputes past 40 days: the LMC may escalate them.")
    def escalatable_disputes(self) -> int:
        return sum(d.escalatable for d in self.open_disputes)


@strawberry.type(description="What a re-detection changed.")
class AnomalyRefresh:
    opened: int = strawberry.field(description="Anomalies newly detected.")
    resolved: int = strawberry.field(description="Anomalies no longer detected.")
    open: int = strawberry.field(description="Anomalies open now.")


@strawberry.type(description="A practice's anomalies.")
class AnomaliesOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(description="Anomalies, newest first: open ones only unless asked.")
    async def anomalies(
        self,
        info: Info[PaymentsContext, None],
        open_only: Annotated[
            bool, strawberry.argument(name="openOnly", description="Only unresolved ones.")
        ] = True,
        kind: Annotated[
            models.AnomalyKind | None, strawberry.argument(description="Only this kind.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Anomaly]:
        page = PageRequest.parse(first, after, parsers=(int,))
        rows = await info.context.anomalies.load((self.ods_code, open_only, kind, page))
        return build_connection(rows, page, key=lambda row: (row.id,), node=Anomaly.from_row)


@strawberry.type
class DetectionMutation:
    @strawberry.mutation(
        description="Detect anomalies again as of today (due dates pass with nothing arriving): "
        "some practices, or all with statements. Operators of payments only."
    )
    async def refresh_anomalies(
        self,
        info: Info[PaymentsContext, None],
        ods_codes: Annotated[
            list[str] | None,
            strawberry.argument(name="odsCodes", description="Only these (up to 1,000)."),
        ] = None,
    ) -> AnomalyRefresh:
        codes = (
            None if ods_codes is None else [practice_code(c, field="odsCodes") for c in ods_codes]
        )
        if codes is not None and len(codes) > 1000:  # noqa: PLR2004 - one request's worth
            raise BadUserInput("At most 1,000 practices at a time.", field="odsCodes")
        result = await service.refresh_anomalies(
            info.context.sessionmaker,
            info.context.principal,
            ods_codes=codes,
            today=info.context.today,
        )
        return AnomalyRefresh(opened=result.opened, resolved=result.resolved, open=result.open)


async def lmc_payments_summary(info: Info[PaymentsContext, None], code: str) -> LmcPaymentsSummary:
    """Open anomalies by kind and open disputes by age across an LMC's practices: counts,
    amounts and ODS codes only."""
    today = info.context.today
    async with info.context.sessionmaker() as session:
        codes = await directory_repository.practices_of_lmc(session, code)
        counts = {
            k: (c, a, o, p) for k, c, a, o, p in await repository.anomaly_summary(session, codes)
        }
        open_disputes = [
            d for d in await disputes_repository.disputes_of_practices(session, codes)
            if d.resolved_at is None
        ]  # fmt: skip
    return LmcPaymentsSummary(
        practices=len(codes),
        anomalies=[
            AnomalyKindSummary(
                kind=kind,
                count=counts[kind][0] if kind in counts else 0,
                amount_at_stake=pounds(counts[kind][1] if kind in counts else 0),
                owed_to_practices=pounds(counts[kind][2] if kind in counts else 0),
                repayable_by_practices=pounds(
                    counts[kind][1] - counts[kind][2] if kind in counts else 0
                ),
                practices_affected=len(counts[kind][3]) if kind in counts else 0,
                practice_codes=counts[kind][3] if kind in counts else [],
            )
            for kind in models.AnomalyKind
        ],
        open_disputes=sorted(
            (
                DisputeAge(
                    reference=d.reference,
                    ods_code=d.ods_code,
                    age_days=disputes.age_days(d, today=today),
                    escalatable=disputes.escalatable(d, today=today),
                )
                for d in open_disputes
            ),
            key=lambda d: (-d.age_days, d.reference),
        ),
    )
