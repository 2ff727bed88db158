"""The engine's pool against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import asyncpg
from pcse_kit.db import create_engine
from sqlalchemy import text

if TYPE_CHECKING:
    from pcse_kit.postgres import EmbeddedPostgres


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
