"""The append-only audit trail every service keeps of its writes, and idempotent mutations.

Each service declares both tables in its own metadata (its own database) with the functions
here, so every service records a write the same way: who (the token's subject and role), what
(action, entity and key), when, and the values before and after. A trigger refuses UPDATE and
DELETE on the audit table; the evidence a practice needs for a dispute cannot be edited away.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from pcse_kit.errors import BadUserInput, Conflict

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from pcse_kit.auth import Principal

AUDIT_TABLE: Final = "audit_event"
IDEMPOTENCY_TABLE: Final = "idempotency_key"
_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,100}")


def audit_table(metadata: MetaData) -> Table:
    return Table(
        AUDIT_TABLE,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("occurred_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        Column("actor_subject", String(200), nullable=False),
        Column("actor_role", String(20), nullable=False),
        Column("action", String(100), nullable=False),
        Column("entity", String(100), nullable=False),
        Column("entity_key", String(200), nullable=False),
        Column("before", JSONB, nullable=True),
        Column("after", JSONB, nullable=True),
        Index("ix_audit_event_entity", "entity", "entity_key", "id"),
    )


def append_only_sql(table: str = AUDIT_TABLE) -> list[str]:
    """DDL for a migration: a trigger that refuses UPDATE and DELETE on ``table``."""
    function = f"{table}_append_only"
    return [
        f"""
        CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only' USING ERRCODE = 'insufficient_privilege';
        END $$
        """,
        f"""
        CREATE TRIGGER {function} BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION {function}()
        """,
    ]


async def record(
    session: AsyncSession,
    table: Table,
    *,
    actor: Principal,
    action: str,
    entity: str,
    key: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Append one audit event in the caller's transaction: it commits with the write or not."""
    await session.execute(
        insert(table).values(
            actor_subject=actor.subject,
            actor_role=str(actor.role),
            action=action,
            entity=entity,
            entity_key=key,
            before=before,
            after=after,
        )
    )


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        IDEMPOTENCY_TABLE,
        metadata,
        Column("actor_subject", String(200), primary_key=True),
        Column("key", String(100), primary_key=True),
        Column("operation", String(100), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("response", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    )


def _request_hash(operation: str, request: dict[str, Any], actor: Principal) -> str:
    """The request and who made it, with the rights they had: a key is the subject's, and a
    replay is answered only to the same subject in the same role over the same scope."""
    canonical = json.dumps(
        [operation, request, str(actor.role), sorted(actor.scope)], sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    session: AsyncSession,
    table: Table,
    *,
    actor: Principal,
    key: str,
    operation: str,
    request: dict[str, Any],
) -> dict[str, Any] | None:
    """Claim ``key`` for this request in the caller's transaction.

    Returns None when the key is new: go ahead, then :func:`remember` the response. Returns the
    stored response when the same request was already made with this key, by the same caller
    with the same rights. A key is its subject's, so nobody else can reach its response; and a
    replay by that subject under another role or scope (a token issued since, with other
    rights) is a CONFLICT, never the stored response: what the first request was allowed to
    see is not handed to a caller who may no longer see it. A concurrent replay waits on the
    first one's row lock, so exactly one of them does the work.
    """
    if not _KEY.fullmatch(key):
        raise BadUserInput(
            "`idempotencyKey` must be 8-100 letters, digits or . _ : -", field="idempotencyKey"
        )
    digest = _request_hash(operation, request, actor)
    inserted = await session.execute(
        pg_insert(table)
        .values(actor_subject=actor.subject, key=key, operation=operation, request_hash=digest)
        .on_conflict_do_nothing()
        .returning(table.c.key)
    )
    if inserted.first() is not None:
        return None
    stored = (
        await session.execute(
            select(table.c.request_hash, table.c.response).where(
                table.c.actor_subject == actor.subject, table.c.key == key
            )
        )
    ).one()
    if stored.request_hash != digest:
        raise Conflict(
            "This idempotency key was already used for a different request, or by you with "
            "other rights; use a new key.",
            field="idempotencyKey",
        )
    response: dict[str, Any] = stored.response
    return response


async def remember(
    session: AsyncSession,
    table: Table,
    *,
    actor: Principal,
    key: str,
    response: dict[str, Any],
) -> None:
    await session.execute(
        table.update()
        .where(table.c.actor_subject == actor.subject, table.c.key == key)
        .values(response=response)
    )


async def once(
    sessionmaker: async_sessionmaker[AsyncSession],
    table: Table,
    *,
    actor: Principal,
    key: str,
    operation: str,
    request: dict[str, Any],
    write: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
    authorize: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Run ``write`` in one transaction, once per idempotency key.

    A replay of the same request gets the first response and changes nothing; the key reused
    for another request is a CONFLICT (see :func:`claim`). ``write`` returns the JSON-ready
    response to remember.

    ``authorize`` runs first, in the same transaction, for the first request and every
    replay alike: a check that depends on data (a relationship that may have ended since) must
    go there, not in ``write``, or a replay would skip it.
    """
    async with sessionmaker.begin() as session:
        if authorize is not None:
            await authorize(session)
        replay = await claim(
            session, table, actor=actor, key=key, operation=operation, request=request
        )
        if replay is not None:
            return replay
        response = await write(session)
        await remember(session, table, actor=actor, key=key, response=response)
    return response
