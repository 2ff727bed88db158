"""The engine's pool against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import asyncpg
from pcse_kit.db import StatementCounter, create_engine, create_sessionmaker, row_reader
from pcse_kit.loaders import one_per_key
from sqlalchemy import event, text

if TYPE_CHECKING:
    from pcse_kit.postgres import EmbeddedPostgres
    from sqlalchemy.ext.asyncio import AsyncSession


async def test_a_pooled_connection_the_server_closed_is_replaced_not_failed(
    postgres: EmbeddedPostgres,
) -> None:
    engine = create_engine(
        postgres.dsn(), application_name="test-db-pool", pool_size=1, max_overflow=0
    )
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT pg_backend_pid()")) == first

        # The server ends the pooled connection's backend, as a restart or a failover would.
        other = await asyncpg.connect(postgres.dsn())
        try:
            assert await other.fetchval("SELECT pg_terminate_backend($1, 5000)", first)
        finally:
            await other.close()
        await asyncio.sleep(0.05)  # the event loop reads the end of the stream meanwhile

        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT pg_backend_pid()")) != first
    finally:
        await engine.dispose()


async def test_a_loader_reads_in_one_round_trip_and_writes_stay_in_transactions(
    postgres: EmbeddedPostgres,
) -> None:
    """What each DataLoader batch costs the database: its one statement, with no BEGIN before
    it and no ROLLBACK after it (counted as the driver sends them); the sessions that write
    still BEGIN and then COMMIT or ROLLBACK."""
    engine = create_engine(
        postgres.dsn(), application_name="test-db-reader", pool_size=1, max_overflow=0
    )
    control: list[str] = []

    def log_transaction_control(dbapi_connection: Any, _record: Any) -> None:
        def log(record: Any) -> None:
            word = record.query.split()[0].rstrip(";").upper()
            if word in {"BEGIN", "COMMIT", "ROLLBACK"}:
                control.append(word)

        dbapi_connection.driver_connection.add_query_logger(log)

    event.listen(engine.sync_engine, "connect", log_transaction_control)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions.begin() as session:
            await session.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS t (n int)"))
        await asyncio.sleep(0.05)  # the driver calls its query loggers soon, not at once
        assert control == ["BEGIN", "COMMIT"]

        loader = one_per_key(sessions, _numbers, lambda n: n)
        control.clear()
        with StatementCounter().attached(engine) as statements:
            assert await loader.load_many([1, 2, 3]) == [1, 2, 3]
        await asyncio.sleep(0.05)
        assert statements.count == 1
        assert control == []

        async with sessions() as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            await session.rollback()
        async with sessions() as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 0
        await asyncio.sleep(0.05)
        assert control == ["BEGIN", "ROLLBACK", "BEGIN", "ROLLBACK"]
    finally:
        await engine.dispose()


async def test_a_row_read_is_one_statement_on_a_pooled_connection_without_a_transaction(
    postgres: EmbeddedPostgres,
) -> None:
    """``row_reader``'s connections: the statement alone goes to the server (no BEGIN, no
    ROLLBACK), the engine's statement hooks see it, the rows come typed by the engine as a
    session's would, and the connection goes back to the pool."""
    engine = create_engine(
        postgres.dsn(), application_name="test-db-rows", pool_size=1, max_overflow=0
    )
    control: list[str] = []

    def log_queries(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(
            lambda record: control.append(record.query.split()[0].rstrip(";").upper())
        )

    event.listen(engine.sync_engine, "connect", log_queries)
    sessions = create_sessionmaker(engine)
    statement = text("SELECT n, n * 2 AS twice FROM unnest(CAST(:keys AS int[])) AS n ORDER BY n")
    try:
        rows = row_reader(sessions)
        assert row_reader(sessions) is rows  # made once per sessionmaker
        with StatementCounter().attached(engine) as statements:
            async with rows() as connection:
                found = (await connection.execute(statement, {"keys": [3, 1]})).all()
            async with rows() as connection:  # the same pooled connection (pool of one)
                again = (await connection.execute(statement, {"keys": [2]})).all()
        await asyncio.sleep(0.05)  # the driver calls its query loggers soon, not at once
        assert [tuple(row) for row in found] == [(1, 2), (3, 6)]
        assert [(row.n, row.twice) for row in again] == [(2, 4)]
        assert statements.count == 2
        # The driver's own type introspection (a WITH) may come too, on a new connection.
        assert [word for word in control if word != "WITH"] == ["SELECT", "SELECT"]
        async with sessions() as session:
            in_session = (await session.execute(statement, {"keys": [3, 1]})).all()
        assert in_session == found
    finally:
        await engine.dispose()


async def _numbers(session: AsyncSession, keys: list[int]) -> list[int]:
    result = await session.execute(
        text("SELECT n FROM unnest(CAST(:keys AS int[])) AS n"), {"keys": keys}
    )
    return list(result.scalars())
