"""The audit trail is append-only against its own service: each service runs as a database role
that owns nothing, may only read and insert on its append-only tables, and so can neither
change, delete, truncate nor unprotect them. The tables belong to the migrator role.

Checked on the stack's own databases, with the very connections the services use.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from pcse_kit.db import create_engine
from pcse_kit.roles import audit_exposure
from pcse_kit.service import AuditTrailExposed, check_audit_trail
from pcse_kit.settings import ServiceSettings

from stack import SERVICES

if TYPE_CHECKING:
    from stack import Stack


async def _run(url: str, work: Any) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await work(connection)
    finally:
        await connection.close()


def _append_only_tables(stack: Stack, service: str) -> dict[str, str]:
    """Each append-only table, with one of its columns."""

    async def read(connection: asyncpg.Connection[Any]) -> dict[str, str]:
        rows = await connection.fetch(
            "SELECT c.relname, (SELECT attname FROM pg_attribute WHERE attrelid = c.oid "
            "AND attnum = 1) AS column FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = c.relname || '_append_only' ORDER BY 1"
        )
        return {row["relname"]: row["column"] for row in rows}

    tables: dict[str, str] = asyncio.run(_run(stack.migrate_urls[service], read))
    return tables


TAMPERING = [
    "TRUNCATE {table}",
    "UPDATE {table} SET {column} = {column}",
    "DELETE FROM {table}",
    "ALTER TABLE {table} DISABLE TRIGGER {table}_append_only",
    "DROP TRIGGER {table}_append_only ON {table}",
    "CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RETURN NEW; END $$",
    "ALTER TABLE {table} OWNER TO CURRENT_USER",
    "DROP TABLE {table}",
]


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_role_cannot_change_empty_or_unprotect_its_audit_trail(
    stack: Stack, service: str
) -> None:
    """The finding: the service's role owned its tables, so it could TRUNCATE the audit table
    or drop its trigger."""
    tables = _append_only_tables(stack, service)
    assert "audit_event" in tables

    async def attempt(connection: asyncpg.Connection[Any]) -> dict[str, str]:
        outcomes = {}
        for table, column in tables.items():
            for template in TAMPERING:
                statement = template.format(table=table, column=column)
                try:
                    async with connection.transaction():
                        await connection.execute(statement)
                    outcomes[statement] = "done"
                except asyncpg.InsufficientPrivilegeError:
                    outcomes[statement] = "refused"
        return outcomes

    outcomes = asyncio.run(_run(stack.database_urls[service], attempt))
    assert outcomes == dict.fromkeys(outcomes, "refused")


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_role_may_read_and_append_to_its_audit_trail(
    stack: Stack, service: str
) -> None:
    async def append(connection: asyncpg.Connection[Any]) -> int:
        transaction = connection.transaction()
        await transaction.start()
        try:
            await connection.execute(
                "INSERT INTO audit_event (actor_subject, actor_role, action, entity, entity_key)"
                " VALUES ('audit-test', 'admin', 'probe', 'probe', 'probe')"
            )
            count: int = await connection.fetchval(
                "SELECT count(*) FROM audit_event WHERE actor_subject = 'audit-test'"
            )
        finally:
            await transaction.rollback()  # leave the real trail as it was
        return count

    assert asyncio.run(_run(stack.database_urls[service], append)) == 1


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_role_owns_nothing_and_cannot_migrate(stack: Stack, service: str) -> None:
    async def probe(connection: asyncpg.Connection[Any]) -> tuple[int, list[str]]:
        owned = await connection.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'USAGE')"
        )
        refused = []
        for statement in (
            "CREATE TABLE probe (id int)",
            "UPDATE alembic_version SET version_num = version_num",
        ):
            try:
                async with connection.transaction():
                    await connection.execute(statement)
            except asyncpg.InsufficientPrivilegeError:
                refused.append(statement.split()[0])
        return owned, refused

    owned, refused = asyncio.run(_run(stack.database_urls[service], probe))
    assert owned == 0
    assert refused == ["CREATE", "UPDATE"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_connected_as_its_own_role(stack: Stack, service: str) -> None:
    async def roles(connection: asyncpg.Connection[Any]) -> set[str]:
        rows = await connection.fetch(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name = $1", service
        )
        return {row["usename"] for row in rows}

    assert asyncio.run(_run(stack.migrate_urls[service], roles)) == {f"pcse_{service}"}


async def test_production_refuses_to_run_as_the_owner_of_its_audit_trail(stack: Stack) -> None:
    """Run as the tables' owner (the fall-back when no migrator is configured), a production
    service would be back to the finding; it refuses to start, and says why."""
    owner_url = stack.migrate_urls["records"]
    settings = ServiceSettings(
        environment="production",
        database_url=owner_url,
        auth_jwks_url="https://idp.example.org/.well-known/jwks.json",
    )
    engine = create_engine(owner_url, application_name="audit-test", pool_size=1)
    try:
        async with engine.connect() as connection:
            exposure = await audit_exposure(connection)
        with pytest.raises(AuditTrailExposed, match="owns audit_event"):
            await check_audit_trail(engine, settings)
    finally:
        await engine.dispose()
    assert "audit_event" in exposure.owned
