"""The payments subgraph, assembled from its capabilities: payments on Practice, Lmc and
Performer, practicePayments for accountants, reference data, and every mutation."""

from __future__ import annotations

from typing import Annotated

import strawberry
from pcse_kit.graphql import create_schema
from pcse_kit.identifiers import gmc_number, lmc_code, practice_code
from strawberry.federation.schema_directives import Cost, ListSize
from strawberry.types import Info

from payments import policy
from payments.claims.types import ClaimsMutation, ClaimsOfPractice
from payments.compensation.types import CompensationMutation, CompensationOfPractice
from payments.consent.types import ConsentMutation, ConsentQuery
from payments.context import PaymentsContext
from payments.detection.types import (
    AnomaliesOfPractice,
    DetectionMutation,
    LmcPaymentsSummary,
    lmc_payments_summary,
)
from payments.disputes.types import (
    Dispute,
    DisputesMutation,
    DisputesOfPractice,
    lmc_escalations,
)
from payments.pensions.types import (
    PensionsMutation,
    PensionsOfPractice,
    PerformerPensions,
    performer_pensions,
)
from payments.planning.types import PlanningOfPractice
from payments.published.types import PublishedMutation, PublishedOfPractice
from payments.qof.types import QofMutation, QofOfPractice
from payments.schedule.types import ScheduleMutation, ScheduleOfPractice, ScheduleQuery
from payments.statements.types import StatementsMutation, StatementsOfPractice, StatementsQuery
from payments.training.types import TrainingMutation
from payments.types import AREA_COST
from payments.webhooks.types import WebhooksMutation, WebhooksQuery


@strawberry.type(description="Everything the payments service knows about one practice.")
class PracticePayments(
    StatementsOfPractice,
    ScheduleOfPractice,
    AnomaliesOfPractice,
    QofOfPractice,
    DisputesOfPractice,
    PublishedOfPractice,
    ClaimsOfPractice,
    PensionsOfPractice,
    PlanningOfPractice,
    CompensationOfPractice,
):
    ods_code: strawberry.Private[str]


@strawberry.federation.type(keys=["odsCode"], description="A GP practice (owned by performers).")
class Practice:
    ods_code: str = strawberry.field(description="ODS practice code.")

    @classmethod
    async def resolve_reference(
        cls,
        info: Info[PaymentsContext, None],
        odsCode: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Practice:
        # A caller not entitled to this practice's payments gets nothing for it, not even an
        # empty shell: the representation fails with FORBIDDEN.
        code = practice_code(odsCode)
        await policy.read_practice(info.context, code)
        return cls(ods_code=code)

    @strawberry.field(
        description="Statements, lines and deductions paid to the practice, the expected "
        "schedule, anomalies and disputes. Null, with a FORBIDDEN error, for a caller who may not "
        "see them."
    )
    async def payments(self, info: Info[PaymentsContext, None]) -> PracticePayments | None:
        await policy.read_practice(info.context, self.ods_code)
        return PracticePayments(ods_code=self.ods_code)


@strawberry.federation.type(keys=["code"], description="A Local Medical Committee (performers).")
class Lmc:
    code: str = strawberry.field(description="Stable slug, e.g. kernow.")

    @classmethod
    def resolve_reference(cls, code: str) -> Lmc:
        # Nothing is revealed by the key itself; the summary checks the caller.
        return cls(code=lmc_code(code))

    @strawberry.field(
        description="Payment anomalies by kind with counts, amounts and practices affected, and "
        "the ages of open disputes: for the LMC itself, payments operators and admins; "
        "FORBIDDEN, and null, for anyone else.",
        directives=[Cost(weight=AREA_COST)],
    )
    async def payments_summary(
        self, info: Info[PaymentsContext, None]
    ) -> LmcPaymentsSummary | None:
        policy.lmc_summary(info.context.principal, self.code)
        return await lmc_payments_summary(info, self.code)

    @strawberry.field(
        description="Disputes the LMC's practices have escalated to it, most recently escalated "
        "first, each with its pack (JSON and PDF): for the LMC itself, payments operators and "
        "admins; FORBIDDEN, and null, for anyone else (another LMC included).",
        directives=[
            Cost(weight=10),
            ListSize(slicing_arguments=["first"]),  # type: ignore[call-arg]
        ],
    )
    async def dispute_escalations(
        self,
        info: Info[PaymentsContext, None],
        first: Annotated[int, strawberry.argument(description="How many, at most 100.")] = 50,
    ) -> list[Dispute] | None:
        policy.lmc_summary(info.context.principal, self.code)
        return await lmc_escalations(info, self.code, first)


@strawberry.federation.type(keys=["gmcNumber"], description="A GP (owned by performers).")
class Performer:
    gmc_number: str = strawberry.field(description="GMC reference number: seven digits.")

    @classmethod
    def resolve_reference(
        cls,
        gmcNumber: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Performer:
        return cls(gmc_number=gmc_number(gmcNumber))

    @strawberry.field(
        description="Estimates, tier, deductions expected and taken, certificates and locum "
        "forms. A practice sees only its own posts; an accountant the posts at practices whose "
        "consent to it includes pensions (PAYMENTS_AND_PENSIONS); payments operators and admins "
        "everything; FORBIDDEN, and null, for anyone else (LMCs, accountants with a payments-only "
        "consent)."
    )
    async def pensions(self, info: Info[PaymentsContext, None]) -> PerformerPensions | None:
        visible = await policy.pension_practices(info.context, self.gmc_number)
        return await performer_pensions(info, self.gmc_number, visible)


@strawberry.type
class Query(StatementsQuery, ScheduleQuery, ConsentQuery, WebhooksQuery):
    @strawberry.field(
        description="One practice's payments, for its own staff and for accountants it "
        "consented to; FORBIDDEN for anyone else, whether or not the practice exists."
    )
    async def practice_payments(
        self,
        info: Info[PaymentsContext, None],
        ods_code: Annotated[str, strawberry.argument(description="e.g. A81001")],
    ) -> PracticePayments:
        code = practice_code(ods_code)
        await policy.read_practice(info.context, code)
        return PracticePayments(ods_code=code)


@strawberry.type
class Mutation(
    ConsentMutation,
    StatementsMutation,
    PublishedMutation,
    QofMutation,
    TrainingMutation,
    ClaimsMutation,
    PensionsMutation,
    ScheduleMutation,
    DetectionMutation,
    DisputesMutation,
    CompensationMutation,
    WebhooksMutation,
):
    """Every write, each in its capability."""


schema = create_schema(query=Query, mutation=Mutation, types=[Practice, Lmc, Performer])
