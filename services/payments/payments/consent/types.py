"""GraphQL of accountants' consents."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import strawberry
from pcse_kit.auth import Forbidden, Role
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import practice_code
from strawberry.types import Info

from payments import policy
from payments.consent import repository, service
from payments.consent.service import ConsentView
from payments.context import PaymentsContext
from payments.models import ConsentScope


@strawberry.type(description="An accountant's access to one practice's payments.")
class AccountantConsent:
    ods_code: str = strawberry.field(description="The practice that consented.")
    accountant_id: str = strawberry.field(description="The accountant it consented to.")
    granted_at: datetime = strawberry.field(description="When it was granted.")
    granted_by: str = strawberry.field(description="Who granted it (the token's subject).")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")
    revoked_by: str | None = strawberry.field(description="Who revoked it.")
    scope: ConsentScope = strawberry.field(
        description="What it covers: PAYMENTS, or PAYMENTS_AND_PENSIONS. Consents granted before "
        "scopes existed are PAYMENTS."
    )

    @strawberry.field(description="True until it is revoked.")
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def of(cls, view: ConsentView) -> AccountantConsent:
        return cls(
            ods_code=view.ods_code,
            accountant_id=view.accountant_id,
            granted_at=datetime.fromisoformat(view.granted_at),
            granted_by=view.granted_by,
            revoked_at=None if view.revoked_at is None else datetime.fromisoformat(view.revoked_at),
            revoked_by=view.revoked_by,
            scope=ConsentScope(view.scope),
        )


_ACCOUNTANT_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,200}")


def accountant_id(value: str) -> str:
    if not _ACCOUNTANT_ID.fullmatch(value):
        raise BadUserInput(
            "`accountantId` must be 1-200 letters, digits or . _ @ : -", field="accountantId"
        )
    return value


@strawberry.input(description="Which accountant, for which practice; replays are harmless.")
class ConsentInput:
    ods_code: str = strawberry.field(description="The practice (one of the caller's).")
    accountant_id: str = strawberry.field(description="The accountant's identifier.")
    idempotency_key: str = strawberry.field(
        description="Unique per intended change (8-100 characters); a replay returns the "
        "first result and changes nothing."
    )
    scope: ConsentScope = strawberry.field(
        default=ConsentScope.PAYMENTS,
        description="What the grant covers (ignored by a revocation, which ends the consent): "
        "PAYMENTS (the default), or PAYMENTS_AND_PENSIONS for an accountant preparing partners' "
        "pension certificates. Granting another scope to an active consent changes it.",
    )


@strawberry.type
class ConsentQuery:
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


@strawberry.type
class ConsentMutation:
    @strawberry.mutation(
        description="Let an accountant see the practice's payments, and with the scope "
        "PAYMENTS_AND_PENSIONS its side of its GPs' pensions. Recorded in the audit trail."
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
            scope=input.scope,
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
