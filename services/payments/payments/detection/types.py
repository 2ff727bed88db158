"""GraphQL of anomalies, and an LMC's summary of them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit import dates
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.federation.schema_directives import Cost
from strawberry.types import Info

from payments import disclosure, models, policy
from payments.context import PaymentsContext
from payments.detection import repository, service, trends
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
    count: int | None = strawberry.field(
        description="How many are open. For an LMC rounded to the nearest 5, and null when "
        "fewer than 8 practices have one (`suppressed`); exact for payments operators and admins."
    )
    amount_at_stake: Decimal | None = strawberry.field(
        description="Pounds at stake, all together, whichever way each goes; for an LMC null "
        "when fewer than 8 practices make it up (it would be their money)."
    )
    owed_to_practices: Decimal | None = strawberry.field(
        description="Of it, pounds owed to the practices; for an LMC null when fewer than 8 "
        "practices are owed."
    )
    repayable_by_practices: Decimal | None = strawberry.field(
        description="Of it, pounds the practices may have to repay; for an LMC null when fewer "
        "than 8 practices may."
    )
    suppressed: bool = strawberry.field(
        description="True when a count or amount here is withheld because it comes from 1 to "
        "7 practices: it would show one practice's money (NHS Digital's small-number rule)."
    )
    practices_affected: int = strawberry.field(description="How many practices have one.")
    practice_codes: list[str] = strawberry.field(
        description="Which practices, by ODS code: who is affected, never how much."
    )

    @classmethod
    def of(
        cls, kind: models.AnomalyKind, found: repository.KindSummary | None, *, exact: bool
    ) -> AnomalyKindSummary:
        """One kind's figures, withheld where they come from too few practices (unless
        ``exact``: for those who may see every practice's payments)."""
        if found is None:
            return cls(
                kind=kind, count=0, amount_at_stake=pounds(0), owed_to_practices=pounds(0),
                repayable_by_practices=pounds(0), suppressed=False, practices_affected=0,
                practice_codes=[],
            )  # fmt: skip
        affected = len(found.practices)
        repayable = found.amount_pence - found.owed_pence
        count: int | None
        amount: int | None
        owed: int | None
        back: int | None
        if exact:
            count, amount, owed, back = (
                found.anomalies, found.amount_pence, found.owed_pence, repayable,
            )  # fmt: skip
        else:
            count = disclosure.count_shown(found.anomalies, practices=affected)
            amount = disclosure.amount_shown(found.amount_pence, practices=affected)
            owed = disclosure.amount_shown(found.owed_pence, practices=found.practices_owed)
            back = disclosure.amount_shown(repayable, practices=found.practices_repayable)
            if owed is None or back is None:
                # Secondary suppression: the total less the part shown is the part withheld.
                amount = None
        return cls(
            kind=kind,
            count=count,
            amount_at_stake=None if amount is None else pounds(amount),
            owed_to_practices=None if owed is None else pounds(owed),
            repayable_by_practices=None if back is None else pounds(back),
            suppressed=None in (count, amount, owed, back),
            practices_affected=affected,
            practice_codes=found.practices,
        )


@strawberry.type(description="An open dispute in an LMC's area, by age (no correspondence).")
class DisputeAge:
    reference: str = strawberry.field(description="The dispute's reference.")
    ods_code: str = strawberry.field(description="The practice.")
    age_days: int = strawberry.field(description="Days open.")
    escalatable: bool = strawberry.field(description="Open for more than 40 days.")


# The trends read every LMC's anomalies of the window (England's medians need them all), in
# one statement: priced above an area aggregate's 20.
TRENDS_COST = 50


@strawberry.type(
    description="One month of an area's payment problems of one kind, component and paymaster, "
    "with England's median beside it. For an LMC, a figure from 1 to 7 practices is null "
    "(`suppressed`) and a count from 8 or more is rounded to the nearest 5; England's medians "
    "are national figures, shown as they are."
)
class PaymentTrendMonth:
    month: date = strawberry.field(description="The month's first day.")
    raised: int | None = strawberry.field(description="Anomalies first detected that month.")
    amount_raised: Decimal | None = strawberry.field(
        description="Pounds at stake in them, all together."
    )
    raised_per_100_practices: float | None = strawberry.field(
        description="`raised` per 100 of the area's practices."
    )
    england_median_raised_per_100_practices: float = strawberry.field(
        description="England's median across LMCs of the same rate that month (an LMC with "
        "none counts, at 0)."
    )
    amount_per_practice: Decimal | None = strawberry.field(
        description="`amountRaised` per practice of the area, pounds."
    )
    england_median_amount_per_practice: Decimal = strawberry.field(
        description="England's median across LMCs of the same, pounds."
    )
    resolved: int | None = strawberry.field(description="Anomalies resolved that month.")
    median_days_to_resolve: float | None = strawberry.field(
        description="Their median days from first detected to resolved; null if none."
    )
    england_median_days_to_resolve: float | None = strawberry.field(
        description="The same across England; null if none was resolved."
    )
    suppressed: bool = strawberry.field(
        description="True when a figure here is withheld: it comes from 1 to 7 practices."
    )


@strawberry.type(description="An area's payment problems of one kind, component and paymaster.")
class PaymentTrend:
    kind: models.AnomalyKind = strawberry.field(description="The kind of problem.")
    component: models.Component = strawberry.field(description="What the money is for.")
    paymaster: models.Paymaster | None = strawberry.field(
        description="Whose money it is (the commissioner, by the commissioner rules in force "
        "that month); null where no rule says."
    )
    months: list[PaymentTrendMonth] = strawberry.field(description="Oldest first.")

    @classmethod
    def of(cls, trend: trends.Trend) -> PaymentTrend:
        return cls(
            kind=trend.kind,
            component=trend.component,
            paymaster=trend.paymaster,
            months=[
                PaymentTrendMonth(
                    month=m.month,
                    raised=m.raised,
                    amount_raised=None if m.raised_pence is None else pounds(m.raised_pence),
                    raised_per_100_practices=m.raised_per_100_practices,
                    england_median_raised_per_100_practices=(
                        m.england_median_raised_per_100_practices
                    ),
                    amount_per_practice=(
                        None if m.pence_per_practice is None else pounds(m.pence_per_practice)
                    ),
                    england_median_amount_per_practice=pounds(m.england_median_pence_per_practice),
                    resolved=m.resolved,
                    median_days_to_resolve=m.median_days_to_resolve,
                    england_median_days_to_resolve=m.england_median_days_to_resolve,
                    suppressed=m.suppressed,
                )
                for m in trend.months
            ],
        )


@strawberry.type(description="An LMC's view of payment problems across its practices.")
class LmcPaymentsSummary:
    code: strawberry.Private[str]
    exact: strawberry.Private[bool]
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

    @strawberry.field(
        description="Anomalies raised and their amounts, and how long resolving them took, "
        "month by month over the last `months` months (to this one), by kind, component and "
        "paymaster, with England's median beside the area's: counts and sums only; for an LMC "
        "a figure from 1 to 7 practices withheld, counts from 8 or more rounded to the nearest 5.",
        directives=[Cost(weight=TRENDS_COST)],
    )
    async def trends(
        self,
        info: Info[PaymentsContext, None],
        months: Annotated[
            int, strawberry.argument(description="How many months, up to this one (1-24).")
        ] = 12,
    ) -> list[PaymentTrend]:
        if not 1 <= months <= trends.MAX_MONTHS:
            raise BadUserInput(f"`months` must be from 1 to {trends.MAX_MONTHS}.", field="months")
        window = trends.months_ending(info.context.today, months)
        first = window[0]
        async with info.context.sessionmaker() as session:
            rows = await repository.trend_rows(
                session,
                first_month=first,
                since=datetime(first.year, first.month, 1, tzinfo=dates.ENGLAND),
            )
            sizes = await repository.lmc_sizes(session)
        built = trends.build(rows, lmc_code=self.code, sizes=sizes, months=window, exact=self.exact)
        return [PaymentTrend.of(trend) for trend in built]


MAX_REFRESH_PRACTICES = 1000
"""How many practices one `refreshAnomalies` names at most (an LMC area is about 65)."""


@strawberry.type(description="What a re-detection changed.")
class AnomalyRefresh:
    opened: int = strawberry.field(description="Anomalies newly detected.")
    resolved: int = strawberry.field(description="Anomalies no longer detected.")
    open: int = strawberry.field(description="Anomalies open now.")
    escalatable_published: int = strawberry.field(
        description="`dispute.escalatable` events published: disputes past their escalation "
        "day not announced before (once each; a missed day is made up)."
    )
    deadline_notices_published: int = strawberry.field(
        description="`deadline.approaching` events published (a refresh of every practice "
        "only; once per practice, kind, due day and lead)."
    )


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
        # Bounded by count before each code is read: one request's worth of practices.
        if ods_codes is not None and len(ods_codes) > MAX_REFRESH_PRACTICES:
            raise BadUserInput(
                f"At most {MAX_REFRESH_PRACTICES:,} practices at a time.", field="odsCodes"
            )
        codes = (
            None if ods_codes is None else [practice_code(c, field="odsCodes") for c in ods_codes]
        )
        result = await service.refresh_anomalies(
            info.context.sessionmaker,
            info.context.principal,
            ods_codes=codes,
            today=info.context.today,
        )
        return AnomalyRefresh(
            opened=result.opened,
            resolved=result.resolved,
            open=result.open,
            escalatable_published=result.escalatable,
            deadline_notices_published=result.deadlines,
        )


async def lmc_payments_summary(info: Info[PaymentsContext, None], code: str) -> LmcPaymentsSummary:
    """Open anomalies by kind and open disputes by age across an LMC's practices: counts,
    amounts and ODS codes only; for an LMC, figures from 1 to 7 practices withheld."""
    today = info.context.today
    exact = info.context.principal.operates(policy.DOMAIN)
    async with info.context.sessionmaker() as session:
        codes = await directory_repository.practices_of_lmc(session, code)
        found = {k.kind: k for k in await repository.anomaly_summary(session, codes)}
        open_disputes = [
            d for d in await disputes_repository.disputes_of_practices(session, codes)
            if d.resolved_at is None
        ]  # fmt: skip
        escalation = await disputes_repository.escalation_days(session)
    return LmcPaymentsSummary(
        code=code,
        exact=exact,
        practices=len(codes),
        anomalies=[
            AnomalyKindSummary.of(kind, found.get(kind), exact=exact) for kind in models.AnomalyKind
        ],
        open_disputes=sorted(
            (
                DisputeAge(
                    reference=d.reference,
                    ods_code=d.ods_code,
                    age_days=disputes.age_days(d, today=today),
                    escalatable=disputes.escalatable(
                        d,
                        today=today,
                        days=disputes_repository.days_in_force(escalation, d.raised_on),
                    ),
                )
                for d in open_disputes
            ),
            key=lambda d: (-d.age_days, d.reference),
        ),
    )
