"""Database roles: a migrator that owns a service's tables, and the service's own role.

Each service reaches its database as two roles:

* the **migrator** owns the database, its schema and every table, and runs the migrations
  (``*_MIGRATE_DATABASE_URL``);
* the **service role** (``*_DATABASE_URL``) reads and writes rows (SELECT, INSERT, UPDATE,
  DELETE), and on an append-only table (the audit trail, and every table whose trigger keeps it
  append-only) may only read and insert. It owns nothing, so it can neither ``TRUNCATE`` a table
  nor drop, disable or replace a trigger: those need ownership (or a superuser).

:func:`grant_statements` runs as the migrator after every migration, in the migration's
transaction, so a table a migration adds is covered the moment it exists. :func:`provision`
creates the roles and the database on a server where we hold a superuser's (or a
``CREATEROLE`` and ``CREATEDB``) connection: ``make up``, the tests. ``deploy/postgres-init``
does the same for the containers. :func:`audit_exposure` is what a service checks at start-up.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection

APPEND_ONLY_SUFFIX: Final = "_append_only"
"""Tables protected by :func:`pcse_kit.audit.append_only_sql` carry a trigger of this suffix."""

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Tables whose trigger (named <table>_append_only) keeps them append-only, in schema public.
_APPEND_ONLY_TABLES = text(
    """
    SELECT c.relname FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND t.tgname = c.relname || :suffix
    ORDER BY c.relname
    """
).bindparams(suffix=APPEND_ONLY_SUFFIX)


def _identifier(name: str) -> str:
    """``name`` quoted as an SQL identifier, after checking it is a plain lower-case name."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain role or database name (a-z, 0-9, _)")
    return f'"{name}"'


def role_of(url: str) -> str | None:
    """The user a postgresql:// URL connects as, if it names one."""
    return urlsplit(url).username or None


def grant_statements(service_role: str, append_only_tables: list[str]) -> list[str]:
    """What the migrator grants the service role after a migration (see the module docstring)."""
    role = _identifier(service_role)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # The migration history is the migrator's alone.
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
    ]
    for table in append_only_tables:
        name = _identifier(table)
        statements.append(
            f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {name} FROM {role}, PUBLIC"
        )
    return statements


def grant_service_role(connection: Connection, service_role: str) -> None:
    """Run :func:`grant_statements` on a migrator's connection (inside the migration)."""
    tables = [row[0] for row in connection.execute(_APPEND_ONLY_TABLES)]
    for statement in grant_statements(service_role, tables):
        connection.execute(text(statement))


@dataclass(frozen=True)
class AuditExposure:
    """Append-only tables the current role could change or empty, and why."""

    owned: list[str]
    writable: list[str]

    def __bool__(self) -> bool:
        return bool(self.owned or self.writable)

    def describe(self) -> str:
        parts = []
        if self.owned:
            parts.append(f"owns {', '.join(self.owned)} (so can TRUNCATE it or drop its trigger)")
        if self.writable:
            parts.append(f"may UPDATE, DELETE or TRUNCATE {', '.join(self.writable)}")
        return "the service's database role " + "; ".join(parts)


async def audit_exposure(connection: AsyncConnection) -> AuditExposure:
    """How the role of ``connection`` could tamper with the append-only tables, if at all.

    A superuser can do anything, so it counts as owning every one of them.
    """
    rows = (
        await connection.execute(
            text(
                """
                SELECT c.relname,
                       pg_has_role(current_user, c.relowner, 'USAGE')
                         OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                         AS owned,
                       has_table_privilege(c.oid, 'UPDATE')
                         OR has_table_privilege(c.oid, 'DELETE')
                         OR has_table_privilege(c.oid, 'TRUNCATE') AS writable
                FROM pg_trigger t
                JOIN pg_class c ON c.oid = t.tgrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND t.tgname = c.relname || :suffix
                ORDER BY c.relname
                """
            ).bindparams(suffix=APPEND_ONLY_SUFFIX)
        )
    ).all()
    return AuditExposure(
        owned=[row.relname for row in rows if row.owned],
        writable=[row.relname for row in rows if row.writable and not row.owned],
    )


# --------------------------------------------------------------------------------------------
# Provisioning, with a superuser's connection


@dataclass(frozen=True)
class ServiceRoles:
    """The two roles of one service's database, with their passwords."""

    database: str
    migrator: str
    service: str
    migrator_password: str
    service_password: str

    def urls(self, server_url: str) -> tuple[str, str]:
        """(service URL, migrator URL) on the server of ``server_url``."""
        return (
            _url(server_url, self.service, self.service_password, self.database),
            _url(server_url, self.migrator, self.migrator_password, self.database),
        )


def _url(server_url: str, user: str, password: str, database: str) -> str:
    parts = urlsplit(server_url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


def _database_url(server_url: str, database: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))


async def _ensure_role(connection: asyncpg.Connection, name: str, password: str) -> None:
    role = _identifier(name)
    exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name)
    if not exists:
        # Another process provisioning the same server may create it meanwhile.
        with contextlib.suppress(asyncpg.DuplicateObjectError):
            await connection.execute(f"CREATE ROLE {role} LOGIN")
    # Literals cannot be bound in utility statements; quote_literal escapes it server-side.
    quoted = await connection.fetchval("SELECT quote_literal($1::text)", password)
    await connection.execute(
        f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {quoted}"
    )


async def _ensure_database(connection: asyncpg.Connection, name: str, owner: str) -> None:
    exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    if not exists:
        with contextlib.suppress(asyncpg.DuplicateDatabaseError):
            await connection.execute(f"CREATE DATABASE {_identifier(name)}")
    await connection.execute(f"ALTER DATABASE {_identifier(name)} OWNER TO {_identifier(owner)}")
    await connection.execute(f"REVOKE ALL ON DATABASE {_identifier(name)} FROM PUBLIC")


# Objects made before the roles existed (a data directory from an older release, migrated as
# the superuser) pass to the migrator, so that the service role owns nothing.
_REASSIGN = """
DO $$
DECLARE item record;
BEGIN
    FOR item IN
        SELECT c.oid::regclass AS name FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
          AND c.relowner <> '{owner}'::regrole
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO {quoted_owner}', item.name);
    END LOOP;
    FOR item IN
        SELECT c.oid::regclass AS name FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relowner <> '{owner}'::regrole
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO {quoted_owner}', item.name);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proowner <> '{owner}'::regrole
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO {quoted_owner}', item.name);
    END LOOP;
END $$
"""


async def provision(server_url: str, roles: ServiceRoles) -> tuple[str, str]:
    """Create (or bring up to date) the two roles and the database, owned by the migrator.

    ``server_url`` is a superuser's connection (or one with CREATEROLE and CREATEDB) to any
    database on the server. Idempotent: passwords are set again, ownership repaired. Returns
    the (service URL, migrator URL) pair.
    """
    connection = await asyncpg.connect(server_url.replace("+asyncpg", ""))
    try:
        await _ensure_role(connection, roles.migrator, roles.migrator_password)
        await _ensure_role(connection, roles.service, roles.service_password)
        await _ensure_database(connection, roles.database, roles.migrator)
        await connection.execute(
            f"GRANT CONNECT, TEMPORARY ON DATABASE {_identifier(roles.database)} "
            f"TO {_identifier(roles.service)}"
        )
    finally:
        await connection.close()
    connection = await asyncpg.connect(_database_url(server_url, roles.database))
    try:
        owner = _identifier(roles.migrator)
        await connection.execute(f"ALTER SCHEMA public OWNER TO {owner}")
        await connection.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        await connection.execute(_REASSIGN.format(owner=roles.migrator, quoted_owner=owner))
    finally:
        await connection.close()
    return roles.urls(server_url)
