"""Idempotent writes: a replay is answered only to the caller who made the request, with the
rights it had then, and a check that depends on data runs on every replay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit import audit
from pcse_kit.auth import Forbidden, Principal, Role
from pcse_kit.db import create_engine, create_sessionmaker
from pcse_kit.errors import Conflict
from sqlalchemy import MetaData

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pcse_kit.postgres import EmbeddedPostgres
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

METADATA = MetaData()
KEYS = audit.idempotency_table(METADATA)

MANAGER = Principal(subject="manager", role=Role.PRACTICE, scope=frozenset({"A81001"}))


@pytest.fixture
async def sessions(postgres: EmbeddedPostgres) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    postgres.create_database("kit_idempotency")
    engine = create_engine(postgres.dsn("kit_idempotency"), application_name="test", pool_size=2)
    async with engine.begin() as connection:
        await connection.run_sync(METADATA.drop_all)
        await connection.run_sync(METADATA.create_all)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def _once(
    sessions: async_sessionmaker[AsyncSession],
    actor: Principal,
    writes: list[str],
    *,
    authorize: Any = None,
) -> dict[str, Any]:
    async def write(_session: AsyncSession) -> dict[str, Any]:
        writes.append(actor.subject)
        return {"movement": "MV00000001", "status": "cancelled"}

    return await audit.once(
        sessions,
        KEYS,
        actor=actor,
        key="cancel-0001",
        operation="cancelRecordMovement",
        request={"movementNumber": "MV00000001"},
        write=write,
        authorize=authorize,
    )


async def test_the_same_caller_gets_the_first_answer_and_nothing_is_written_twice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    writes: list[str] = []
    first = await _once(sessions, MANAGER, writes)
    assert await _once(sessions, MANAGER, writes) == first
    assert writes == ["manager"]


@pytest.mark.parametrize(
    "later",
    [
        Principal(subject="manager", role=Role.PRACTICE, scope=frozenset({"F83424"})),
        Principal(subject="manager", role=Role.LMC, scope=frozenset({"kernow"})),
        Principal(subject="manager", role=Role.PRACTICE, scope=frozenset()),
    ],
    ids=["another practice", "another role", "no scope"],
)
async def test_a_replay_by_the_same_subject_with_other_rights_gets_no_stored_answer(
    sessions: async_sessionmaker[AsyncSession], later: Principal
) -> None:
    """The finding: the stored response went back to whoever replayed the key under the same
    subject, whatever rights their token now gave."""
    writes: list[str] = []
    await _once(sessions, MANAGER, writes)
    with pytest.raises(Conflict, match="other rights"):
        await _once(sessions, later, writes)
    assert writes == ["manager"]


async def test_authorize_runs_on_every_replay(sessions: async_sessionmaker[AsyncSession]) -> None:
    allowed = [True]

    async def authorize(_session: AsyncSession) -> None:
        if not allowed[0]:
            raise Forbidden

    writes: list[str] = []
    await _once(sessions, MANAGER, writes, authorize=authorize)
    allowed[0] = False  # the relationship that allowed it has ended
    with pytest.raises(Forbidden):
        await _once(sessions, MANAGER, writes, authorize=authorize)
    assert writes == ["manager"]
