"""Consent: a practice lets an accountant see its payments, until it revokes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pcse_kit import audit
from pcse_kit.errors import Conflict
from sqlalchemy import select

from payments import policy
from payments.models import (
    AccountantConsent,
    AuditEvent,
    ConsentScope,
    IdempotencyKey,
)

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True)
class ConsentView:
    ods_code: str
    accountant_id: str
    granted_at: str
    granted_by: str
    revoked_at: str | None
    revoked_by: str | None
    scope: str

    @classmethod
    def of(cls, row: AccountantConsent) -> ConsentView:
        return cls(
            ods_code=row.ods_code,
            accountant_id=row.accountant_id,
            granted_at=row.granted_at.isoformat(),
            granted_by=row.granted_by,
            revoked_at=None if row.revoked_at is None else row.revoked_at.isoformat(),
            revoked_by=row.revoked_by,
            scope=row.scope.value,
        )


async def _active_consent(
    session: AsyncSession, ods_code: str, accountant_id: str
) -> AccountantConsent | None:
    return await session.scalar(
        select(AccountantConsent)
        .where(
            AccountantConsent.ods_code == ods_code,
            AccountantConsent.accountant_id == accountant_id,
            AccountantConsent.revoked_at.is_(None),
        )
        .with_for_update()
    )


async def grant_consent(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    accountant_id: str,
    idempotency_key: str,
    scope: ConsentScope = ConsentScope.PAYMENTS,
) -> ConsentView:
    """Let ``accountant_id`` see ``ods_code``'s payments (and, with the wider scope, its
    pensions); granting the same again changes nothing, granting another scope changes the
    active consent's scope (audited, before and after)."""
    policy.manage_consent(principal, ods_code)

    async def write(session: AsyncSession) -> dict[str, Any]:
        row = await _active_consent(session, ods_code, accountant_id)
        if row is None:
            row = AccountantConsent(
                ods_code=ods_code,
                accountant_id=accountant_id,
                granted_by=principal.subject,
                granted_at=datetime.now(UTC),
                scope=scope,
            )
            session.add(row)
            await session.flush()
            await audit.record(
                session,
                AuditEvent,
                actor=principal,
                action="grant",
                entity="accountant_consent",
                key=f"{ods_code}/{accountant_id}",
                before=None,
                after=_values(row),
            )
        elif row.scope is not scope:
            before = _values(row)
            row.scope = scope
            await session.flush()
            await audit.record(
                session,
                AuditEvent,
                actor=principal,
                action="change_scope",
                entity="accountant_consent",
                key=f"{ods_code}/{accountant_id}",
                before=before,
                after=_values(row),
            )
        return _values(row)

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=idempotency_key,
        operation="grantAccountantConsent",
        request={"odsCode": ods_code, "accountantId": accountant_id, "scope": scope.value},
        write=write,
    )
    return ConsentView(**response)


async def revoke_consent(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    accountant_id: str,
    idempotency_key: str,
) -> ConsentView:
    """End ``accountant_id``'s access to ``ods_code``'s payments from the next request on."""
    policy.manage_consent(principal, ods_code)

    async def write(session: AsyncSession) -> dict[str, Any]:
        row = await _active_consent(session, ods_code, accountant_id)
        if row is None:
            raise Conflict("There is no active consent to revoke.", field="accountantId")
        before = _values(row)
        row.revoked_at = datetime.now(UTC)
        row.revoked_by = principal.subject
        await session.flush()
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="revoke",
            entity="accountant_consent",
            key=f"{ods_code}/{accountant_id}",
            before=before,
            after=_values(row),
        )
        return _values(row)

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=idempotency_key,
        operation="revokeAccountantConsent",
        request={"odsCode": ods_code, "accountantId": accountant_id},
        write=write,
    )
    return ConsentView(**response)


def _values(row: AccountantConsent) -> dict[str, Any]:
    return asdict(ConsentView.of(row))
