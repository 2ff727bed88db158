"""An accountant's (or a practice's) own nominal codes for journal exports."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.auth import Forbidden, Role
from pcse_kit.errors import BadUserInput
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert

from payments import writes
from payments.models import AuditEvent, Component, LedgerAccount

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,19}")
NAME_LIMIT = 200


def nominal_code(value: str) -> str:
    code = value.strip()
    if not _CODE.fullmatch(code):
        raise BadUserInput(
            "`code` must be 1-20 letters, digits or . / - (starting with a letter or digit).",
            field="code",
        )
    return code


def account_name(value: str) -> str:
    return writes.text_input(value, field="name", limit=NAME_LIMIT)


def may_keep_a_chart(principal: Principal) -> None:
    """Accountants and practices book payments; they keep charts. Nobody else needs one."""
    if principal.role not in {Role.ACCOUNTANT, Role.PRACTICE}:
        raise Forbidden


async def set_nominal_code(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    component: Component,
    code: str,
    name: str,
    idempotency_key: str,
) -> writes.Written:
    """Book ``component`` to ``code`` in the caller's journal exports from now on."""
    may_keep_a_chart(principal)
    owner = principal.subject

    async def write(session: AsyncSession) -> writes.Written:
        before = await session.get(LedgerAccount, (owner, component))
        before_values = None if before is None else writes.row_values(before)
        await session.execute(
            pg_insert(LedgerAccount)
            .values(owner=owner, component=component, code=code, name=name)
            .on_conflict_do_update(
                index_elements=["owner", "component"],
                set_={"code": code, "name": name, "updated_at": func.now()},
            )
        )
        session.expire_all()
        after = await session.get(LedgerAccount, (owner, component))
        assert after is not None
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="set",
            entity="ledger_account",
            key=f"{owner}/{component.value}",
            before=before_values,
            after=writes.row_values(after),
        )
        return writes.Written(entity="ledger_account", key=f"{owner}/{component.value}")

    return await writes.idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="setNominalCode",
        request={"component": component.value, "code": code, "name": name},
        write=write,
    )
