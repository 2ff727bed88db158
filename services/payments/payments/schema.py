"""The payments subgraph: payments on Practice, practicePayments for accountants, consents."""

from __future__ import annotations

import re
from typing import Annotated

import strawberry
from pcse_kit.auth import Forbidden, Role
from pcse_kit.errors import BadUserInput
from pcse_kit.graphql import create_schema
from pcse_kit.identifiers import practice_code
from strawberry.types import Info

from payments import policy, repository, service
from payments.context import PaymentsContext
from payments.service import ConsentView
from payments.types import AccountantConsent, Practice, PracticePayments

_ACCOUNTANT_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,200}")


def accountant_id(value: str) -> str:
    if not _ACCOUNTANT_ID.fullmatch(value):
        raise BadUserInput(
            "`accountantId` must be 1-200 letters, digits or . _ @ : -", field="accountantId"
        )
    return value


@strawberry.type
class Query:
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

    @strawberry.field(
        description="Consents granted and revoked, newest first: a practice sees its own, an "
        "accountant those given to it."
    )
    async def accountant_consents(
        self,
        info: Info[PaymentsContext, None],
        ods_code: Annotated[
            str | None, strawberry.argument(description="Only this practice's.")
        ] = None,
    ) -> list[AccountantConsent]:
        principal = info.context.principal
        codes = None if ods_code is None else [practice_code(ods_code)]
        accountant = None
        if principal.role is Role.PRACTICE:
            if codes is not None and not principal.is_practice_of(codes[0]):
                raise Forbidden
            codes = codes or sorted(principal.scope)
        elif principal.role is Role.ACCOUNTANT:
            accountant = principal.subject
        elif not principal.operates(policy.DOMAIN):
            raise Forbidden
        async with info.context.sessionmaker() as session:
            rows = await repository.consents(session, ods_codes=codes, accountant_id=accountant)
        return [AccountantConsent.of(ConsentView.of(row)) for row in rows]


@strawberry.input(description="Which accountant, for which practice; replays are harmless.")
class ConsentInput:
    ods_code: str = strawberry.field(description="The practice (one of the caller's).")
    accountant_id: str = strawberry.field(description="The accountant's identifier.")
    idempotency_key: str = strawberry.field(
        description="Unique per intended change (8-100 characters); a replay returns the "
        "first result and changes nothing."
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Let an accountant see the practice's payments. Recorded in the audit trail."
    )
    async def grant_accountant_consent(
        self, info: Info[PaymentsContext, None], input: ConsentInput
    ) -> AccountantConsent:
        view = await service.grant_consent(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            accountant_id=accountant_id(input.accountant_id),
            idempotency_key=input.idempotency_key,
        )
        return AccountantConsent.of(view)

    @strawberry.mutation(
        description="End an accountant's access from the next request on. Recorded in the "
        "audit trail."
    )
    async def revoke_accountant_consent(
        self, info: Info[PaymentsContext, None], input: ConsentInput
    ) -> AccountantConsent:
        view = await service.revoke_consent(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            accountant_id=accountant_id(input.accountant_id),
            idempotency_key=input.idempotency_key,
        )
        return AccountantConsent.of(view)


schema = create_schema(query=Query, mutation=Mutation, types=[Practice])
