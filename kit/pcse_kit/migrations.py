"""Alembic, driven from code: on service start-up and from each service's ``migrate`` command.

Each service's ``migrations/env.py`` is a two-line call to :func:`run_env`, so every service
migrates the same way: over asyncpg, under an advisory lock so that replicas starting together
do not race each other.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import TYPE_CHECKING

from alembic import command, context
from alembic.config import Config
from sqlalchemy import text

from pcse_kit.db import create_engine
from pcse_kit.roles import grant_service_role

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection


def alembic_config(
    service_dir: Path, database_url: str, *, service_role: str | None = None
) -> Config:
    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["service_role"] = service_role
    return config


def upgrade(
    service_dir: Path,
    database_url: str,
    revision: str = "head",
    *,
    service_role: str | None = None,
) -> None:
    """Apply migrations synchronously, as the role of ``database_url`` (the migrator); call it
    in a thread from async code.

    With ``service_role`` (another role than the migrator), the migrator then grants it what
    :mod:`pcse_kit.roles` describes, in the same transaction.
    """
    command.upgrade(alembic_config(service_dir, database_url, service_role=service_role), revision)


def _lock_key(name: str) -> int:
    # A stable 31-bit key: hash() is salted per process, and the key must agree across replicas.
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def run_env(
    target_metadata: MetaData, *, lock_name: str, default_url_factory: Callable[[], str]
) -> None:
    """Body of a service's ``env.py``: migrate online over asyncpg, holding an advisory lock.

    The URL comes from the caller (start-up passes the settings it has) or, for the plain
    ``alembic`` command line, from the service's settings.
    """
    url: str = context.config.attributes.get("database_url") or default_url_factory()
    service_role: str | None = context.config.attributes.get("service_role")

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            # Transaction-scoped, so a failed migration releases it with its rollback.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(lock_name)}
            )
            context.run_migrations()
            migrator = connection.execute(text("SELECT current_user")).scalar_one()
            if service_role and service_role != migrator:
                grant_service_role(connection, service_role)

    async def run() -> None:
        engine = create_engine(url, application_name=f"{lock_name}-migrate", pool_size=1)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(do_run)
        finally:
            await engine.dispose()

    asyncio.run(run())
